// The floor under tidepool's echo server: the same echo with no runtime at
// all, written straight on liburing, so that a gap between tidepool and
// tokio can be told apart from what the kernel costs on this host.
//
// Each of --threads threads opens its own SO_REUSEPORT listener on --port
// and its own ring (SINGLE_ISSUER | DEFER_TASKRUN, as tidepool's worker
// rings), accepts with one multishot accept, and per connection receives
// with a single-shot recv into the connection's buffer, or with
// --multishot, a multishot recv into a ring of provided buffers; each
// message is echoed with a plain send(), as tidepool's try-now write does.
// Prints "listening on 127.0.0.1:PORT" and serves until killed. Errors in
// set-up end the process; a connection's error or EOF closes it.
//
// Run: bazel run -c opt //bench/tcp_echo:bare_uring_echo -- --port=19001
// then bench/tcp_echo/echo_client or bench/peers/tokio_echo_client.
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <latch>
#include <memory>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"

ABSL_FLAG(int, port, 19001, "port to listen on (127.0.0.1)");
ABSL_FLAG(int, threads, 2, "threads, each with a listener and a ring");
ABSL_FLAG(bool, multishot, false,
          "multishot recv into provided buffers instead of single-shot recv");

namespace {

constexpr unsigned kBuffers = 512;  // provided buffers per ring
constexpr unsigned kBufferBytes = 2048;
constexpr uint64_t kAcceptTag = 1;

struct Connection {
  int fd;
  char buffer[kBufferBytes];
};

[[noreturn]] void Die(const char* what, int err) {
  std::fprintf(stderr, "bare_uring_echo: %s: errno %d\n", what, err);
  std::exit(1);
}

int Listen(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(fd, 1024) != 0) {
    Die("bind/listen", errno);
  }
  return fd;
}

class Server {
 public:
  Server(int port, bool multishot) : multishot_(multishot) {
    listener_ = Listen(port);
    io_uring_params params{};
    params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    if (int r = io_uring_queue_init_params(1024, &ring_, &params); r < 0) {
      Die("io_uring_queue_init_params", -r);
    }
    if (multishot_) SetUpBuffers();
  }

  void Run() {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    io_uring_prep_multishot_accept(sqe, listener_, nullptr, nullptr, 0);
    io_uring_sqe_set_data64(sqe, kAcceptTag);
    while (true) {
      io_uring_submit_and_wait(&ring_, 1);
      io_uring_cqe* cqe;
      unsigned head;
      unsigned seen = 0;
      io_uring_for_each_cqe(&ring_, head, cqe) {
        ++seen;
        Complete(*cqe);
      }
      io_uring_cq_advance(&ring_, seen);
    }
  }

 private:
  // liburing 2.3 has no io_uring_setup_buf_ring: map and register by hand.
  void SetUpBuffers() {
    void* mem =
        mmap(nullptr, kBuffers * sizeof(io_uring_buf), PROT_READ | PROT_WRITE,
             MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (mem == MAP_FAILED) Die("mmap", errno);
    buffer_ring_ = static_cast<io_uring_buf_ring*>(mem);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<uint64_t>(buffer_ring_);
    reg.ring_entries = kBuffers;
    reg.bgid = 0;
    if (int r = io_uring_register_buf_ring(&ring_, &reg, 0); r < 0) {
      Die("io_uring_register_buf_ring", -r);
    }
    io_uring_buf_ring_init(buffer_ring_);
    buffers_ = std::make_unique<char[]>(kBuffers * kBufferBytes);
    for (unsigned i = 0; i < kBuffers; ++i) GiveBack(i, i);
    io_uring_buf_ring_advance(buffer_ring_, kBuffers);
  }

  void GiveBack(unsigned id, unsigned offset) {
    io_uring_buf_ring_add(buffer_ring_, &buffers_[id * kBufferBytes],
                          kBufferBytes, static_cast<uint16_t>(id),
                          io_uring_buf_ring_mask(kBuffers),
                          static_cast<int>(offset));
  }

  void ArmReceive(Connection* c) {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (multishot_) {
      io_uring_prep_recv_multishot(sqe, c->fd, nullptr, 0, 0);
      sqe->flags |= IOSQE_BUFFER_SELECT;
      sqe->buf_group = 0;
    } else {
      io_uring_prep_recv(sqe, c->fd, c->buffer, kBufferBytes, 0);
    }
    io_uring_sqe_set_data(sqe, c);
  }

  void Complete(const io_uring_cqe& cqe) {
    if (cqe.user_data == kAcceptTag) {
      if (cqe.res < 0) return;
      const int one = 1;
      setsockopt(cqe.res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      ArmReceive(new Connection{cqe.res, {}});
      return;
    }
    auto* c = reinterpret_cast<Connection*>(cqe.user_data);
    if (cqe.res == -ENOBUFS) {
      ArmReceive(c);
      return;
    }
    if (cqe.res <= 0) {
      close(c->fd);
      delete c;
      return;
    }
    const size_t n = static_cast<size_t>(cqe.res);
    if (multishot_) {
      const unsigned id = cqe.flags >> IORING_CQE_BUFFER_SHIFT;
      send(c->fd, &buffers_[id * kBufferBytes], n, MSG_NOSIGNAL);
      GiveBack(id, 0);
      io_uring_buf_ring_advance(buffer_ring_, 1);
      if ((cqe.flags & IORING_CQE_F_MORE) == 0) ArmReceive(c);
    } else {
      send(c->fd, c->buffer, n, MSG_NOSIGNAL);
      ArmReceive(c);
    }
  }

  const bool multishot_;
  int listener_ = -1;
  io_uring ring_{};
  io_uring_buf_ring* buffer_ring_ = nullptr;
  std::unique_ptr<char[]> buffers_;
};

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int port = absl::GetFlag(FLAGS_port);
  const bool multishot = absl::GetFlag(FLAGS_multishot);
  const int n = absl::GetFlag(FLAGS_threads);
  // A ring with SINGLE_ISSUER belongs to the thread that made it, so each
  // thread makes its own; "listening" once every listener is bound.
  std::latch bound(n);
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([port, multishot, &bound] {
      Server server(port, multishot);
      bound.count_down();
      server.Run();
    });
  }
  bound.wait();
  std::printf("listening on 127.0.0.1:%d\n", port);
  std::fflush(stdout);
  for (std::thread& t : threads) t.join();
}
