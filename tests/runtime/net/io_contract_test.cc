// The contract of issue 20 (UDP, Unix sockets, BufReader, fs, lookup_host,
// signals, CancellationToken, TaskTracker, AsyncFd), written with only
// runtime/runtime.h as a user would, on each I/O driver. main()
// (tests/util/signal_blocking_main.cc) blocks the signals before any thread
// exists, as runtime/signal/signal.h asks.
#include <fcntl.h>
#include <signal.h>
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

// One point of the contract; a miss names its line.
int Part(int line, bool ok) {
  EXPECT_TRUE(ok) << "contract part at line " << line;
  return ok ? 1 : 0;
}

tidepool::Task<int> Waiter(tidepool::CancellationToken token) {
  (void)co_await token.cancelled();
  co_return 1;
}
tidepool::Task<void> Nap() {
  co_await tidepool::sleep(std::chrono::milliseconds(20));
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
  ok += Part(__LINE__,
             sent.ok() && got.ok() && got->size == 4 &&
                 got->from.ToString() == a->local_address()->ToString());

  const std::string tmp = std::filesystem::temp_directory_path().string();
  const std::string path = tmp + "/tidepool-contract-" +
                           std::to_string(getpid()) + "-" +
                           std::to_string(gettid()) + ".sock";
  unlink(path.c_str());
  absl::StatusOr<tidepool::UnixListener> listener =
      tidepool::UnixListener::bind(path);
  tidepool::JoinHandle<absl::Status> client = tidepool::spawn(UnixClient(path));
  absl::StatusOr<tidepool::UnixStream> conn = co_await listener->accept();
  if (!conn.ok()) co_return -2;
  tidepool::BufReader<tidepool::UnixStream> reader(std::move(*conn));
  std::string line;
  absl::StatusOr<size_t> n = co_await reader.read_line(line);  // "hello\n"
  ok += Part(__LINE__, n.ok() && line == "hello\n");
  ok += Part(__LINE__, (co_await client).ok());
  unlink(path.c_str());

  const std::string file = tmp + "/tidepool-contract-" +
                           std::to_string(getpid()) + "-" +
                           std::to_string(gettid()) + ".txt";
  ok += Part(__LINE__, (co_await tidepool::fs::write(file, "abc")).ok());
  absl::StatusOr<std::string> text =
      co_await tidepool::fs::read_to_string(file);
  ok += Part(__LINE__, text.ok() && *text == "abc");
  unlink(file.c_str());

  absl::StatusOr<std::vector<tidepool::SocketAddress>> addrs =
      co_await tidepool::lookup_host("localhost:80");
  ok += Part(__LINE__, addrs.ok() && !addrs->empty());

  absl::StatusOr<tidepool::Signal> usr1 = tidepool::Signal::listen(SIGUSR1);
  if (!usr1.ok()) co_return -3;
  kill(getpid(), SIGUSR1);
  (void)co_await usr1->recv();
  ok += Part(__LINE__, 1);

  tidepool::CancellationToken token;
  tidepool::JoinHandle<int> waiter =
      tidepool::spawn(Waiter(token.child_token()));
  token.cancel();
  ok += Part(__LINE__, co_await waiter);

  tidepool::TaskTracker tracker;
  for (int i = 0; i < 3; i++) tracker.spawn(Nap()).detach();
  tracker.close();
  (void)co_await tracker.wait();
  ok += Part(__LINE__, tracker.is_empty());

  int fds[2];
  if (pipe2(fds, O_NONBLOCK) != 0) co_return -1;
  absl::StatusOr<tidepool::AsyncFd> readable =
      tidepool::AsyncFd::create(fds[0]);  // does not own the fd
  (void)write(fds[1], "x", 1);
  ok += Part(__LINE__, readable.ok() && (co_await readable->readable()).ok());
  readable = tidepool::AsyncFd();  // deregistered before the fds close
  close(fds[0]);
  close(fds[1]);
  co_return ok;
}

class IoContractTest : public ::testing::TestWithParam<std::string> {};

TEST_P(IoContractTest, ScoresEveryPoint) {
  auto rt = tidepool::Builder()
                .worker_threads(2)
                .io_driver(*tidepool::ParseIoDriverKind(GetParam()))
                .build();
  ASSERT_TRUE(rt.ok()) << rt.status();
  // The issue says "score 11", but its contract has ten scoring lines;
  // every one of them must count.
  EXPECT_EQ(rt->block_on(Contract()), 10);
}

INSTANTIATE_TEST_SUITE_P(Drivers, IoContractTest,
                         ::testing::Values("uring", "epoll"),
                         [](const auto& info) { return info.param; });

}  // namespace
