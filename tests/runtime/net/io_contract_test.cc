// The UDP, Unix socket, lookup_host and AsyncFd parts of the contract of
// issue 20, written with only runtime/runtime.h as a user would, on each
// I/O driver. (Its BufReader line is a read loop here.)
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "gtest/gtest.h"
#include "runtime/runtime.h"

namespace {

tidepool::Task<absl::Status> UnixClient(std::string path) {
  absl::StatusOr<tidepool::UnixStream> s =
      co_await tidepool::UnixStream::connect(path);
  if (!s.ok()) co_return s.status();
  co_return co_await s->write_all("hello\nworld\n");
}

tidepool::Task<int> Contract() {
  int ok = 0;
  const tidepool::SocketAddress any =
      *tidepool::SocketAddress::Parse("127.0.0.1:0");
  absl::StatusOr<tidepool::UdpSocket> a = tidepool::UdpSocket::bind(any);
  absl::StatusOr<tidepool::UdpSocket> b = tidepool::UdpSocket::bind(any);
  absl::StatusOr<size_t> sent =
      co_await a->send_to("ping", *b->local_address());
  char buf[64];
  absl::StatusOr<tidepool::UdpSocket::Received> got =
      co_await b->recv_from(buf);
  ok += sent.ok() && got.ok() && got->size == 4 &&
        got->from.ToString() == a->local_address()->ToString();

  const std::string tmp = std::filesystem::temp_directory_path().string();
  const std::string path = tmp + "/tidepool-contract-" +
                           std::to_string(getpid()) + "-" +
                           std::to_string(gettid()) + ".sock";
  unlink(path.c_str());
  absl::StatusOr<tidepool::UnixListener> listener =
      tidepool::UnixListener::bind(path);
  tidepool::JoinHandle<absl::Status> client = tidepool::spawn(UnixClient(path));
  absl::StatusOr<tidepool::UnixStream> conn = co_await listener->accept();
  std::string line;
  while (conn.ok() && line.find('\n') == std::string::npos) {
    absl::StatusOr<size_t> n = co_await conn->read(buf);
    if (!n.ok() || *n == 0) break;
    line.append(buf, *n);
  }
  ok += line.substr(0, line.find('\n') + 1) == "hello\n";
  ok += (co_await client).ok();
  unlink(path.c_str());

  absl::StatusOr<std::vector<tidepool::SocketAddress>> addrs =
      co_await tidepool::lookup_host("localhost:80");
  ok += addrs.ok() && !addrs->empty();

  int fds[2];
  if (pipe2(fds, O_NONBLOCK) != 0) co_return -1;
  absl::StatusOr<tidepool::AsyncFd> readable =
      tidepool::AsyncFd::create(fds[0]);  // does not own the fd
  (void)write(fds[1], "x", 1);
  ok += readable.ok() && (co_await readable->readable()).ok();
  readable = tidepool::AsyncFd();  // deregistered before the fds close
  close(fds[0]);
  close(fds[1]);
  co_return ok;
}

class IoContractTest : public ::testing::TestWithParam<std::string> {};

TEST_P(IoContractTest, UdpUnixLookupAndAsyncFdParts) {
  auto rt = tidepool::Builder().worker_threads(2).io_driver(GetParam()).build();
  ASSERT_TRUE(rt.ok()) << rt.status();
  EXPECT_EQ(rt->block_on(Contract()), 5);
}

INSTANTIATE_TEST_SUITE_P(Drivers, IoContractTest,
                         ::testing::Values("uring", "epoll"),
                         [](const auto& info) { return info.param; });

}  // namespace
