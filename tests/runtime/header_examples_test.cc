// The usage examples in tidepool's public headers, copied as written (the
// lines between "// example:" and "// end" are the header's lines without
// their comment marker; clang-format is kept off where it would reflow
// them), around the stubs they assume. They must compile
// under -Werror and do what the header says.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "alloc/policy.h"
#include "alloc/sanitizer.h"
#include "gtest/gtest.h"
#include "runtime/runtime.h"

namespace {

using namespace std::chrono_literals;

tidepool::Runtime MakeRuntime() {
  absl::StatusOr<tidepool::Runtime> rt =
      tidepool::Builder().worker_threads(2).build();
  EXPECT_TRUE(rt.ok()) << rt.status();
  return *std::move(rt);
}

namespace join_handle_h {
tidepool::Task<int> Compute() { co_return 6; }
tidepool::Task<void> LogLater() { co_return; }
tidepool::Task<int> Example() {
  // example: runtime/join_handle.h
  tidepool::JoinHandle<int> h = tidepool::spawn(Compute());
  int v = co_await h;
  tidepool::spawn(LogLater()).detach();  // fire and forget
  // end
  co_return v;
}
}  // namespace join_handle_h

TEST(HeaderExamplesTest, JoinHandle) {
  EXPECT_EQ(MakeRuntime().block_on(join_handle_h::Example()), 6);
}

namespace spawn_h {
tidepool::Task<int> Compute(int x) { co_return x; }
int ReadFile() { return 3; }
tidepool::Task<int> Example() {
  // example: runtime/spawn.h
  tidepool::JoinHandle<int> h = tidepool::spawn(Compute(7));
  int n = co_await tidepool::spawn_blocking([] { return ReadFile(); });
  // end
  co_return co_await h + n;
}
}  // namespace spawn_h

TEST(HeaderExamplesTest, Spawn) {
  EXPECT_EQ(MakeRuntime().block_on(spawn_h::Example()), 10);
}

namespace task_h {
// example: runtime/task.h
tidepool::Task<int> Add(int a, int b) { co_return a + b; }
tidepool::Task<int> Twice() { co_return co_await Add(1, 2) * 2; }
// end
}  // namespace task_h

TEST(HeaderExamplesTest, Task) {
  EXPECT_EQ(MakeRuntime().block_on(task_h::Twice()), 6);
}

namespace runtime_h {
// example: runtime/runtime.h
tidepool::Task<int> Answer() { co_return 42; }
int main() {
  auto rt = tidepool::Builder().worker_threads(2).build();
  if (!rt.ok()) return 1;
  return rt->block_on(Answer()) == 42 ? 0 : 1;
}
// end
}  // namespace runtime_h

TEST(HeaderExamplesTest, Runtime) { EXPECT_EQ(runtime_h::main(), 0); }

TEST(HeaderExamplesTest, BuilderAndPolicy) {
  {
    // clang-format off
    // example: runtime/builder.h
    absl::StatusOr<tidepool::Runtime> rt = tidepool::Builder()
        .worker_threads(2)
        .max_blocking_threads(8)
        .thread_keep_alive(std::chrono::milliseconds(500))
        .build();
    if (!rt.ok()) { /* rt.status() names the bad setting */ }
    // end
    // clang-format on
    EXPECT_TRUE(rt.ok()) << rt.status();
  }
  {
    // example: alloc/policy.h
    tidepool::alloc::Policy p = tidepool::alloc::DefaultPolicy();
    p.glibc_arena_max = 2;
    auto rt = tidepool::Builder().process_allocator(p).build();
    // end
    EXPECT_TRUE(rt.ok()) << rt.status();
  }
  {
    // example: runtime/builder.h
    auto rt = tidepool::Builder().memory_budget(size_t{24} << 20).build();
    // end
    // Sanitizer builds interpose malloc, and no backend counts in-use bytes.
#if TIDEPOOL_SANITIZER_BUILD
    EXPECT_TRUE(absl::IsFailedPrecondition(rt.status())) << rt.status();
#else
    ASSERT_TRUE(rt.ok()) << rt.status();
    EXPECT_EQ(rt->metrics().blocking.budget.budget, size_t{24} << 20);
#endif
  }
  {
    tidepool::Builder builder;
    // example: runtime/memory_budget.h
    absl::StatusOr<size_t> b = tidepool::ParseMemoryBudget("24M");
    if (b.ok()) builder.memory_budget(*b);  // 25165824
    // end
    EXPECT_EQ(*b, 25165824u);
  }
  {
    // example: runtime/unhandled_exception.h
    auto rt = tidepool::Builder()
                  .on_unhandled_exception(tidepool::AbortOnUnhandledException)
                  .build();
    // end
    EXPECT_TRUE(rt.ok()) << rt.status();
  }
}

namespace task_builder_h {
tidepool::Task<void> AcceptLoop(int) { co_return; }
tidepool::Task<std::string> Example() {
  int l = 0;
  // example: runtime/task_builder.h
  tidepool::JoinHandle<void> h =
      tidepool::TaskBuilder().name("accept-loop").spawn(AcceptLoop(l));
  std::string name = h.name();  // "accept-loop"
  // end
  co_await h;
  co_return name;
}
}  // namespace task_builder_h

TEST(HeaderExamplesTest, TaskBuilder) {
  EXPECT_EQ(MakeRuntime().block_on(task_builder_h::Example()), "accept-loop");
}

TEST(HeaderExamplesTest, TaskHooksAndSlowPoll) {
  {
    // clang-format off
    // example: runtime/task_hooks.h
    std::atomic<int> live{0};
    auto rt = tidepool::Builder()
        .on_task_spawn([&](const tidepool::TaskMeta&) { ++live; })
        .on_task_terminate([&](const tidepool::TaskMeta&) { --live; })
        .build();
    // end
    // clang-format on
    ASSERT_TRUE(rt.ok()) << rt.status();
    rt->block_on([]() -> tidepool::Task<void> {
      co_await tidepool::spawn([]() -> tidepool::Task<void> { co_return; }());
    }());
    EXPECT_EQ(live.load(), 0);
  }
  {
    // clang-format off
    // example: runtime/slow_poll.h
    auto rt = tidepool::Builder()
        .slow_poll_threshold(std::chrono::milliseconds(20))
        .on_slow_poll([](const tidepool::SlowPoll& p) {
          std::fprintf(stderr, "slow: task %.*s\n",
                       static_cast<int>(p.task.name.size()),
                       p.task.name.data());
        })
        .build();
    // end
    // clang-format on
    EXPECT_TRUE(rt.ok()) << rt.status();
  }
}

namespace net_h {
tidepool::Task<void> Serve(tidepool::TcpStream s) {
  (void)co_await s.write_all("ping");
}
tidepool::Task<absl::Status> Listen(int connections) {
  // example: runtime/net/tcp_listener.h
  auto listener = tidepool::TcpListener::bind(
      *tidepool::SocketAddress::Parse("127.0.0.1:0"));  // inside a task
  // end
  if (!listener.ok()) co_return listener.status();
  for (int i = 0; i < connections; ++i) {
    absl::StatusOr<tidepool::TcpStream> conn = co_await listener->accept();
    if (!conn.ok()) co_return conn.status();
    tidepool::spawn(Serve(*std::move(conn))).detach();
  }
  co_return absl::OkStatus();
}
tidepool::Task<absl::Status> Connect(tidepool::SocketAddress to) {
  // example: runtime/net/socket_address.h
  auto addr = tidepool::SocketAddress::Parse("127.0.0.1:8080");
  auto v6 = tidepool::SocketAddress::Parse("[::1]:0");  // any free port
  // end
  if (!addr.ok() || !v6.ok()) co_return absl::InternalError("parse");
  addr = to;
  // example: runtime/net/tcp_stream.h
  absl::StatusOr<tidepool::TcpStream> s =
      co_await tidepool::TcpStream::connect(*addr);
  if (!s.ok()) co_return s.status();
  if (auto st = co_await s->write_all("ping"); !st.ok()) co_return st;
  char buf[4096];
  absl::StatusOr<size_t> n = co_await s->read(buf);  // 0: peer closed
  // end
  if (!n.ok()) co_return n.status();
  co_return *n == 4 ? absl::OkStatus() : absl::InternalError("short read");
}
tidepool::Task<absl::Status> RoundTrip() {
  absl::StatusOr<tidepool::TcpListener> l = tidepool::TcpListener::bind(
      *tidepool::SocketAddress::Parse("127.0.0.1:0"));
  if (!l.ok()) co_return l.status();
  absl::StatusOr<tidepool::SocketAddress> at = l->local_address();
  if (!at.ok()) co_return at.status();
  auto server = [](tidepool::TcpListener l) -> tidepool::Task<absl::Status> {
    absl::StatusOr<tidepool::TcpStream> conn = co_await l.accept();
    if (!conn.ok()) co_return conn.status();
    co_await Serve(*std::move(conn));
    co_return absl::OkStatus();
  };
  tidepool::JoinHandle<absl::Status> served =
      tidepool::spawn(server(*std::move(l)));
  absl::Status st = co_await Connect(*at);
  absl::Status sv = co_await served;
  co_return st.ok() ? sv : st;
}
}  // namespace net_h

TEST(HeaderExamplesTest, Net) {
  tidepool::Runtime rt = MakeRuntime();
  EXPECT_TRUE(rt.block_on(net_h::RoundTrip()).ok());
  // The listener example's own loop, with no connections to take.
  EXPECT_TRUE(rt.block_on(net_h::Listen(0)).ok());
}

// The examples of the UDP, Unix socket, AsyncFd and lookup_host headers.
// Those that name fixed addresses ("/run/app.sock", "@app-events") are
// compiled only; tests/runtime/net/ runs the same calls.
namespace io_breadth_h {
tidepool::Task<absl::Status> Udp() {
  // example: runtime/net/udp_socket.h
  auto sock = tidepool::UdpSocket::bind(
      *tidepool::SocketAddress::Parse("127.0.0.1:0"));  // inside a task
  if (!sock.ok()) co_return sock.status();
  char buf[1500];
  absl::StatusOr<tidepool::UdpSocket::Received> got =
      co_await sock->recv_from(buf);  // one datagram, and who sent it
  if (!got.ok()) co_return got.status();
  (void)co_await sock->send_to(std::string_view(buf, got->size), got->from);
  // end
  co_return absl::OkStatus();
}
tidepool::Task<void> Serve(tidepool::UnixStream s) {
  (void)co_await s.write_all("ping");
}
tidepool::Task<absl::Status> UnixListen() {
  // example: runtime/net/unix_listener.h
  auto listener = tidepool::UnixListener::bind("/run/app.sock");
  if (!listener.ok()) co_return listener.status();  // EADDRINUSE...
  while (true) {
    absl::StatusOr<tidepool::UnixStream> conn = co_await listener->accept();
    // end
    if (!conn.ok()) co_return conn.status();
    tidepool::spawn(Serve(*std::move(conn))).detach();
  }
}
tidepool::Task<absl::Status> UnixConnect() {
  // example: runtime/net/unix_stream.h
  absl::StatusOr<tidepool::UnixStream> s =
      co_await tidepool::UnixStream::connect("/run/app.sock");
  if (!s.ok()) co_return s.status();  // ENOENT, ECONNREFUSED...
  if (auto st = co_await s->write_all("ping\n"); !st.ok()) co_return st;
  char buf[4096];
  absl::StatusOr<size_t> n = co_await s->read(buf);  // 0: peer closed
  // end
  co_return n.status();
}
tidepool::Task<absl::Status> UnixDatagram() {
  // example: runtime/net/unix_datagram.h
  auto server = tidepool::UnixDatagram::bind("@app-events");
  auto client = tidepool::UnixDatagram::unbound();
  (void)co_await client->send_to("started", "@app-events");
  char buf[512];
  absl::StatusOr<tidepool::UnixDatagram::Received> got =
      co_await server->recv_from(buf);  // got->from: "" (unbound sender)
  // end
  co_return got.status();
}
tidepool::Task<absl::Status> TcpByName() {
  // example: runtime/net/tcp_stream.h
  auto web = co_await tidepool::TcpStream::connect("localhost:8080");
  // end
  co_return web.status();
}
tidepool::Task<absl::Status> ReadWithAsyncFd(int fd, std::string* out) {
  char buf[64];
  // example: runtime/net/async_fd.h
  // `fd` is non-blocking and stays open while `afd` exists.
  absl::StatusOr<tidepool::AsyncFd> afd = tidepool::AsyncFd::create(fd);
  if (!afd.ok()) co_return afd.status();
  while (true) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n >= 0) break;  // data, or 0 at the end
    if (errno != EAGAIN) co_return absl::ErrnoToStatus(errno, "read");
    // EAGAIN: wait for the next readiness; nothing to clear first.
    if (auto st = co_await afd->readable(); !st.ok()) co_return st;
  }
  // end
  out->assign(buf, 1);
  co_return absl::OkStatus();
}
tidepool::Task<std::string> AsyncFdExample() {
  int fds[2];
  if (pipe2(fds, O_NONBLOCK) != 0) co_return "pipe";
  auto writer = [](int fd) -> tidepool::Task<void> {
    co_await tidepool::sleep(5ms);
    (void)write(fd, "r", 1);
  };
  tidepool::JoinHandle<void> w = tidepool::spawn(writer(fds[1]));
  std::string got;
  absl::Status st = co_await ReadWithAsyncFd(fds[0], &got);
  co_await w;
  close(fds[0]);
  close(fds[1]);
  co_return st.ok() ? got : st.ToString();
}
tidepool::Task<absl::StatusOr<size_t>> LookupHost() {
  size_t n = 0;
  // example: runtime/net/lookup_host.h
  absl::StatusOr<std::vector<tidepool::SocketAddress>> addrs =
      co_await tidepool::lookup_host("localhost:8080");
  if (!addrs.ok()) co_return addrs.status();  // NotFound for no such host
  for (const tidepool::SocketAddress& a : *addrs) {
    // end
    n += a.port() == 8080;
  }
  co_return n;
}
}  // namespace io_breadth_h

TEST(HeaderExamplesTest, IoBreadth) {
  tidepool::Runtime rt = MakeRuntime();
  EXPECT_EQ(rt.block_on(io_breadth_h::AsyncFdExample()), "r");
  absl::StatusOr<size_t> on_port = rt.block_on(io_breadth_h::LookupHost());
  ASSERT_TRUE(on_port.ok()) << on_port.status();
  EXPECT_GE(*on_port, 1u);
  // Compiled only (fixed addresses): referenced so that they are built.
  EXPECT_NE(&io_breadth_h::Udp, nullptr);
  EXPECT_NE(&io_breadth_h::UnixListen, nullptr);
  EXPECT_NE(&io_breadth_h::UnixConnect, nullptr);
  EXPECT_NE(&io_breadth_h::UnixDatagram, nullptr);
  EXPECT_NE(&io_breadth_h::TcpByName, nullptr);
}

namespace sync_h {
tidepool::Task<int> Compute(int i) { co_return i; }
tidepool::Task<int> JoinSetExample() {
  // example: runtime/sync/join_set.h
  tidepool::JoinSet<int> set;
  for (int i = 0; i < 10; ++i) set.spawn(Compute(i));
  int sum = 0;
  while (std::optional<int> v = co_await set.join_next()) sum += *v;
  // end
  co_return sum;
}

std::vector<std::string> used;
void Use(const std::string& s) { used.push_back(s); }
tidepool::Task<void> Produce(tidepool::mpsc::Sender<std::string> tx) {
  (void)co_await tx.send("x");
}
tidepool::Task<size_t> MpscExample() {
  // example: runtime/sync/mpsc.h
  auto [tx, rx] = tidepool::mpsc::channel<std::string>(16);
  tidepool::spawn(Produce(std::move(tx))).detach();  // co_await tx.send("x")
  while (std::optional<std::string> s = co_await rx.recv()) Use(*s);
  // end
  co_return used.size();
}
}  // namespace sync_h

TEST(HeaderExamplesTest, JoinSetAndMpsc) {
  tidepool::Runtime rt = MakeRuntime();
  EXPECT_EQ(rt.block_on(sync_h::JoinSetExample()), 45);
}

namespace mutex_h {
// example: runtime/sync/mutex.h
tidepool::Mutex<std::vector<int>> log;
tidepool::Task<void> Append(int v) {
  tidepool::MutexGuard<std::vector<int>> guard = co_await log.lock();
  guard->push_back(v);
}
// end
}  // namespace mutex_h

namespace notify_h {
int consumed = 0;
int produced = 0;
void Consume() { ++consumed; }
void Produce() { ++produced; }
// clang-format off
// example: runtime/sync/notify.h
tidepool::Notify ready;
tidepool::Task<void> Consumer() {
  co_await ready.notified();
  Consume();
}
void Producer() { Produce(); ready.notify_one(); }
// end
// clang-format on
}  // namespace notify_h

namespace oneshot_h {
tidepool::Task<void> Compute(tidepool::oneshot::Sender<int> tx) {
  tx.send(42);
  co_return;
}
tidepool::Task<int> Example() {
  // example: runtime/sync/oneshot.h
  auto [tx, rx] = tidepool::oneshot::channel<int>();
  tidepool::spawn(Compute(std::move(tx))).detach();  // tx.send(42)
  absl::StatusOr<int> v = co_await std::move(rx);
  // end
  co_return v.value_or(-1);
}
}  // namespace oneshot_h

namespace select_h {
std::string logged;
void Log(const char* s) { logged = s; }
tidepool::Task<std::string> Fetch(std::string url) {
  co_await tidepool::sleep(1h);
  co_return url;
}
tidepool::Task<void> Deadline() { co_await tidepool::sleep(1ms); }
tidepool::Task<size_t> Example() {
  std::string url = "http://example.invalid/";
  // example: runtime/sync/select.h
  std::variant<std::string, std::monostate> r =
      co_await tidepool::select(Fetch(url), Deadline());
  if (r.index() == 1) Log("too slow");
  // end
  co_return r.index();
}
}  // namespace select_h

namespace semaphore_h {
int requests = 0;
void DoRequest() { ++requests; }
// clang-format off
// example: runtime/sync/semaphore.h
tidepool::Semaphore sem(4);  // at most four requests at a time
tidepool::Task<void> Fetch() {
  absl::StatusOr<tidepool::SemaphorePermit> permit =
      co_await sem.acquire();
  if (!permit.ok()) co_return;  // closed
  DoRequest();
}  // the permit goes back here
// end
// clang-format on
}  // namespace semaphore_h

TEST(HeaderExamplesTest, Sync) {
  tidepool::Runtime rt = MakeRuntime();
  rt.block_on(mutex_h::Append(5));
  EXPECT_EQ(rt.block_on([]() -> tidepool::Task<size_t> {
    co_return (co_await mutex_h::log.lock())->size();
  }()),
            1u);
  tidepool::JoinHandle<void> consumer = rt.spawn(notify_h::Consumer());
  notify_h::Producer();
  rt.block_on([](tidepool::JoinHandle<void> c) -> tidepool::Task<void> {
    co_await c;
  }(std::move(consumer)));
  EXPECT_EQ(notify_h::consumed, 1);
  EXPECT_EQ(rt.block_on(oneshot_h::Example()), 42);
  EXPECT_EQ(rt.block_on(select_h::Example()), 1u);
  EXPECT_EQ(select_h::logged, "too slow");
  rt.block_on(semaphore_h::Fetch());
  EXPECT_EQ(semaphore_h::requests, 1);
  EXPECT_EQ(rt.block_on(sync_h::MpscExample()), 1u);
}

namespace cancellation_token_h {
std::atomic<int> accepted{0};
tidepool::Task<int> Accept() {
  co_await tidepool::sleep(1ms);
  co_return ++accepted;
}
// example: runtime/sync/cancellation_token.h (the task)
tidepool::Task<void> Serve(tidepool::CancellationToken stop) {
  while (!stop.is_cancelled()) {
    auto r = co_await tidepool::select(Accept(), stop.cancelled());
    if (r.index() == 1) break;  // cancelled
  }
}
// end
tidepool::Task<void> Example() {
  // example: runtime/sync/cancellation_token.h
  tidepool::CancellationToken stop;
  tidepool::spawn(Serve(stop.child_token())).detach();
  // end
  co_await tidepool::sleep(20ms);
  // example: runtime/sync/cancellation_token.h (the end)
  stop.cancel();  // on SIGTERM, say
  // end
}
}  // namespace cancellation_token_h

TEST(HeaderExamplesTest, CancellationToken) {
  tidepool::Runtime rt = MakeRuntime();
  rt.block_on(cancellation_token_h::Example());
  EXPECT_GT(cancellation_token_h::accepted.load(), 0);
}

namespace time_h {
int reports = 0;
void Report() { ++reports; }
tidepool::Task<std::string> Fetch() { co_return "response"; }
using Response = std::string;
tidepool::Task<bool> Example() {
  bool running = true;
  int ticks = 0;
  // example: runtime/time/interval.h
  tidepool::Interval every = tidepool::interval(100ms);
  while (running) {
    co_await every.tick();  // the first tick completes at once
    Report();
    // end
    running = ++ticks < 2;
  }
  // example: runtime/time/sleep.h
  co_await tidepool::sleep(std::chrono::milliseconds(10));
  // end
  // example: runtime/time/timeout.h
  absl::StatusOr<Response> r = co_await tidepool::timeout(2s, Fetch());
  absl::Status s = co_await tidepool::timeout(5ms, tidepool::sleep(1s));
  // s is DeadlineExceeded
  // end
  co_return r.ok() && *r == "response" &&
      s.code() == absl::StatusCode::kDeadlineExceeded;
}
}  // namespace time_h

TEST(HeaderExamplesTest, Time) {
  EXPECT_TRUE(MakeRuntime().block_on(time_h::Example()));
  EXPECT_EQ(time_h::reports, 2);
}

}  // namespace
