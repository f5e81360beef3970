// Builder::current_thread(): a runtime without worker threads, whose tasks
// run on the thread inside block_on (tokio's current_thread flavor).
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/runtime.h"

namespace tidepool {
namespace {

using namespace std::chrono_literals;

Runtime CurrentThread() {
  absl::StatusOr<Runtime> rt = Builder::current_thread().build();
  EXPECT_TRUE(rt.ok()) << rt.status();
  return *std::move(rt);
}

Task<std::thread::id> WhereAmI() { co_return std::this_thread::get_id(); }

// Every step of a task that spawns, sleeps, awaits a blocking call and
// awaits a child resumes on the thread calling block_on.
Task<std::vector<std::thread::id>> Wander() {
  std::vector<std::thread::id> seen;
  seen.push_back(std::this_thread::get_id());
  co_await sleep(1ms);
  seen.push_back(std::this_thread::get_id());
  const std::thread::id blocking =
      co_await spawn_blocking([] { return std::this_thread::get_id(); });
  seen.push_back(std::this_thread::get_id());
  seen.push_back(co_await spawn(WhereAmI()));
  co_await yield_now();
  seen.push_back(std::this_thread::get_id());
  // The blocking call ran elsewhere, on the pool.
  if (blocking == std::this_thread::get_id()) seen.clear();
  co_return seen;
}

TEST(CurrentThreadTest, TasksRunOnTheThreadCallingBlockOn) {
  Runtime rt = CurrentThread();
  EXPECT_EQ(rt.block_on(WhereAmI()), std::this_thread::get_id());
  const std::vector<std::thread::id> seen = rt.block_on(Wander());
  ASSERT_EQ(seen.size(), 5u);
  for (const std::thread::id& id : seen) {
    EXPECT_EQ(id, std::this_thread::get_id());
  }
  EXPECT_EQ(rt.metrics().workers, 1u);
}

TEST(CurrentThreadTest, ABlockOnFromAnotherThreadRunsTasksThere) {
  Runtime rt = CurrentThread();
  std::thread::id ran_on;
  std::thread t([&rt, &ran_on] { ran_on = rt.block_on(WhereAmI()); });
  const std::thread::id other = t.get_id();
  t.join();
  EXPECT_EQ(ran_on, other);
}

Task<int> Add(int a, int b) {
  co_await sleep(1ms);
  co_return a + b;
}

// Tasks spawned from outside wait for a driver, then run on it.
TEST(CurrentThreadTest, WorkSpawnedFromOutsideRunsWhenSomeoneDrives) {
  Runtime rt = CurrentThread();
  std::atomic<bool> ran{false};
  auto mark = [](std::atomic<bool>& ran) -> Task<std::thread::id> {
    ran.store(true);
    co_return std::this_thread::get_id();
  };
  JoinHandle<std::thread::id> h = rt.handle().spawn(mark(ran));
  std::this_thread::sleep_for(20ms);
  EXPECT_FALSE(ran.load()) << "ran without a thread driving the runtime";
  auto join = [](JoinHandle<std::thread::id> h) -> Task<std::thread::id> {
    co_return co_await std::move(h);
  };
  EXPECT_EQ(rt.block_on(join(std::move(h))), std::this_thread::get_id());
  EXPECT_TRUE(ran.load());
}

TEST(CurrentThreadTest, ConcurrentBlockOnsAllFinish) {
  Runtime rt = CurrentThread();
  constexpr int kThreads = 4;
  std::vector<int> results(kThreads, -1);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&rt, &results, i] {
      for (int round = 0; round < 20; ++round) {
        results[i] = rt.block_on(Add(i, round));
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (int i = 0; i < kThreads; ++i) EXPECT_EQ(results[i], i + 19);
}

TEST(CurrentThreadTest, ExceptionsReachTheCaller) {
  Runtime rt = CurrentThread();
  auto boom = []() -> Task<int> {
    co_await yield_now();
    throw std::runtime_error("boom");
  };
  EXPECT_THROW(rt.block_on(boom()), std::runtime_error);
  EXPECT_EQ(rt.block_on(Add(2, 3)), 5);
}

// A socket round trip with the listener, the client and the server task all
// on the calling thread.
TEST(CurrentThreadTest, SocketsWork) {
  for (IoDriverKind kind : {IoDriverKind::kUring, IoDriverKind::kEpoll}) {
    absl::StatusOr<Runtime> rt =
        Builder::current_thread().io_driver(kind).build();
    ASSERT_TRUE(rt.ok()) << rt.status();
    auto root = []() -> Task<std::string> {
      auto listener = TcpListener::bind(*SocketAddress::Parse("127.0.0.1:0"));
      if (!listener.ok()) co_return listener.status().ToString();
      auto serve = [](TcpListener l) -> Task<absl::Status> {
        absl::StatusOr<TcpStream> s = co_await l.accept();
        if (!s.ok()) co_return s.status();
        char buf[64];
        absl::StatusOr<size_t> n = co_await s->read(buf);
        if (!n.ok()) co_return n.status();
        co_return co_await s->write_all(std::string_view(buf, *n));
      };
      const SocketAddress addr = *listener->local_address();
      JoinHandle<absl::Status> server = spawn(serve(*std::move(listener)));
      absl::StatusOr<TcpStream> c = co_await TcpStream::connect(addr);
      if (!c.ok()) co_return c.status().ToString();
      if (auto s = co_await c->write_all("hello"); !s.ok()) {
        co_return s.ToString();
      }
      char buf[64];
      absl::StatusOr<size_t> n = co_await c->read(buf);
      if (!n.ok()) co_return n.status().ToString();
      if (absl::Status s = co_await server; !s.ok()) co_return s.ToString();
      co_return std::string(buf, *n);
    };
    EXPECT_EQ(rt->block_on(root()), "hello") << IoDriverName(kind);
    // Any thread may drive it, so its io_uring cannot be one thread's.
    EXPECT_EQ(rt->metrics().io_driver_mode,
              kind == IoDriverKind::kUring ? "shared ring" : "epoll");
  }
}

// drain() drives the runtime itself: detached work finishes, then it
// returns; work that never ends makes it time out.
TEST(CurrentThreadTest, DrainRunsTheWorkLeft) {
  Runtime rt = CurrentThread();
  std::atomic<int> finished{0};
  auto work = [](std::atomic<int>& finished) -> Task<void> {
    co_await sleep(20ms);
    co_await spawn_blocking([] { std::this_thread::sleep_for(5ms); });
    finished.fetch_add(1);
  };
  for (int i = 0; i < 3; ++i) rt.spawn(work(finished)).detach();
  EXPECT_TRUE(rt.drain(5s).ok());
  EXPECT_EQ(finished.load(), 3);
}

TEST(CurrentThreadTest, DrainTimesOutOnWorkThatNeverEnds) {
  Runtime rt = CurrentThread();
  auto forever = []() -> Task<void> { co_await sleep(std::chrono::hours(1)); };
  rt.spawn(forever()).detach();
  const auto start = std::chrono::steady_clock::now();
  const absl::Status s = rt.drain(50ms);
  EXPECT_TRUE(absl::IsDeadlineExceeded(s)) << s;
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

// Destroying the runtime with tasks waiting cancels them; their handles
// say so.
TEST(CurrentThreadTest, ShutdownWithWorkInFlight) {
  std::optional<Runtime> rt = CurrentThread();
  auto forever = []() -> Task<int> {
    co_await sleep(std::chrono::hours(1));
    co_return 1;
  };
  JoinHandle<int> h = rt->spawn(forever());
  auto started = []() -> Task<void> { co_await sleep(5ms); };
  rt->block_on(started());
  rt.reset();
  EXPECT_TRUE(h.is_finished());
}

// The monitor watches the one worker while a thread drives it, and sleeps
// while nobody does: a slow poll in block_on is reported; between
// block_ons nothing is counted, however long the runtime waits.
TEST(CurrentThreadTest, SlowPollsAreReportedWhileDriven) {
  std::atomic<int> reported{0};
  absl::StatusOr<Runtime> rt = Builder::current_thread()
                                   .slow_poll_threshold(20ms)
                                   .on_slow_poll([&](const SlowPoll& p) {
                                     EXPECT_GE(p.duration, 20ms);
                                     reported.fetch_add(1);
                                   })
                                   .build();
  ASSERT_TRUE(rt.ok());
  auto hog = []() -> Task<void> {
    const auto end = std::chrono::steady_clock::now() + 100ms;
    while (std::chrono::steady_clock::now() < end) {
    }
    co_return;
  };
  rt->block_on(hog());
  EXPECT_EQ(reported.load(), 1);
  std::this_thread::sleep_for(100ms);  // undriven: nothing runs, nothing slow
  EXPECT_EQ(reported.load(), 1);
  EXPECT_EQ(rt->metrics().per_worker[0].slow_polls, 1u);
}

TEST(CurrentThreadTest, OtherWorkerCountsAreRejected) {
  absl::StatusOr<Runtime> rt =
      Builder::current_thread().worker_threads(2).build();
  ASSERT_FALSE(rt.ok());
  EXPECT_EQ(rt.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(rt.status().message().find("worker_threads=2"), std::string::npos)
      << rt.status();
  EXPECT_TRUE(Builder::current_thread().worker_threads(1).build().ok());
}

}  // namespace
}  // namespace tidepool
