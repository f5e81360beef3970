// Runtime: block_on, spawn from inside and outside, hooks, names, metrics,
// shutdown.
#include "runtime/runtime.h"

#include <dirent.h>
#include <sched.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/internal/cpus.h"

namespace tidepool {
namespace {

using namespace std::chrono_literals;

Task<int> Leaf(int i) {
  co_await yield_now();
  co_return i;
}

// The example from the Foundation issue, verbatim in spirit.
Task<long> Root() {
  std::vector<JoinHandle<int>> hs;
  for (int i = 0; i < 100000; ++i) hs.push_back(spawn(Leaf(i)));
  long sum = 0;
  for (auto& h : hs) sum += co_await h;
  sum += co_await spawn_blocking([] { return 1; });
  co_return sum;
}

TEST(RuntimeTest, IssueExample) {
  auto rt = Builder()
                .worker_threads(2)
                .max_blocking_threads(8)
                .thread_keep_alive(500ms)
                .build();
  ASSERT_TRUE(rt.ok()) << rt.status();
  EXPECT_EQ(rt->block_on(Root()), 4999950001);
}

TEST(RuntimeTest, SingleWorker) {
  auto rt = Builder().worker_threads(1).build();
  ASSERT_TRUE(rt.ok());
  EXPECT_EQ(rt->block_on(Root()), 4999950001);
}

TEST(RuntimeTest, SpawnOutsideRuntimeThrows) {
  EXPECT_THROW(spawn(Leaf(1)).detach(), std::logic_error);
  EXPECT_THROW((void)spawn_blocking([] { return 1; }), std::logic_error);
}

TEST(RuntimeTest, AwaitingRuntimeAwaitableOutsideTaskThrows) {
  // Resumed by hand, not by a runtime: there is no current task to suspend,
  // and the error surfaces inside the coroutine.
  bool caught = false;
  auto task = [](bool* caught) -> Task<void> {
    try {
      co_await yield_now();
    } catch (const std::logic_error&) {
      *caught = true;
    }
  }(&caught);
  auto handle = internal::TaskAccess<void>::Release(task);
  handle.resume();
  EXPECT_TRUE(handle.done());
  handle.destroy();
  EXPECT_TRUE(caught);
}

TEST(RuntimeTest, BlockOnInsideTaskThrows) {
  auto rt = Builder().worker_threads(2).build();
  ASSERT_TRUE(rt.ok());
  Runtime* self = &*rt;
  auto nested = [](Runtime* rt) -> Task<bool> {
    try {
      rt->block_on(Leaf(1));
    } catch (const std::logic_error&) {
      co_return true;
    }
    co_return false;
  };
  EXPECT_TRUE(rt->block_on(nested(self)));
}

TEST(RuntimeTest, RemoteSpawnsFromManyThreads) {
  auto rt = Builder().worker_threads(2).build();
  ASSERT_TRUE(rt.ok());
  std::vector<std::thread> threads;
  std::atomic<long> sum{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::vector<JoinHandle<int>> hs;
      for (int i = 0; i < 2000; ++i)
        hs.push_back(rt->spawn(Leaf(t * 2000 + i)));
      auto join = [](std::vector<JoinHandle<int>> hs) -> Task<long> {
        long s = 0;
        for (auto& h : hs) s += co_await h;
        co_return s;
      };
      sum += rt->block_on(join(std::move(hs)));
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(sum.load(), 8000L * 7999 / 2);
}

std::set<std::string> ThreadNames() {
  std::set<std::string> names;
  DIR* dir = opendir("/proc/self/task");
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream comm(std::string("/proc/self/task/") + e->d_name + "/comm");
    std::string name;
    std::getline(comm, name);
    names.insert(name);
  }
  closedir(dir);
  return names;
}

// Threads name themselves as they start; give them time on a loaded machine.
bool EventuallyHasThread(const std::string& name) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!ThreadNames().count(name)) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// Context switches of the thread named `name` so far (its wake-ups), or -1
// if there is no such thread.
long ContextSwitches(const std::string& name) {
  long switches = -1;
  DIR* dir = opendir("/proc/self/task");
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    const std::string task = std::string("/proc/self/task/") + e->d_name;
    std::ifstream comm(task + "/comm");
    std::string comm_name;
    std::getline(comm, comm_name);
    if (comm_name != name) continue;
    std::ifstream status(task + "/status");
    switches = 0;
    for (std::string line; std::getline(status, line);) {
      if (line.find("ctxt_switches:") != std::string::npos) {
        switches += std::stol(line.substr(line.find(':') + 1));
      }
    }
  }
  closedir(dir);
  return switches;
}

TEST(RuntimeTest, ThreadNamesAndHooks) {
  std::atomic<int> started{0}, stopped{0};
  {
    auto rt = Builder()
                  .worker_threads(2)
                  .thread_name("tpname")
                  .on_thread_start([&] { started++; })
                  .on_thread_stop([&] { stopped++; })
                  .build();
    ASSERT_TRUE(rt.ok());
    std::atomic<bool> release{false};
    JoinHandle<void> h = rt->spawn_blocking([&] {
      while (!release.load()) std::this_thread::sleep_for(1ms);
    });
    EXPECT_TRUE(EventuallyHasThread("tpname-w0")) << "worker 0 not named";
    EXPECT_TRUE(EventuallyHasThread("tpname-w1")) << "worker 1 not named";
    EXPECT_TRUE(EventuallyHasThread("tpname-b0"))
        << "blocking thread not named";
    EXPECT_TRUE(EventuallyHasThread("tpname-m0")) << "monitor not named";
    release = true;
    rt->block_on(
        [](JoinHandle<void> h) -> Task<void> { co_await h; }(std::move(h)));
    // Hooks run before a thread's first task: the workers' before the loop,
    // the blocking thread's before its call.
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (started.load() < 3 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(1ms);
    }
    EXPECT_EQ(started.load(), 3);
  }
  EXPECT_EQ(stopped.load(), 3);
}

TEST(RuntimeTest, LongThreadNamePrefixKeepsIndex) {
  auto rt = Builder()
                .worker_threads(1)
                .thread_name("averyveryverylongprefix")
                .build();
  ASSERT_TRUE(rt.ok());
  EXPECT_TRUE(EventuallyHasThread("averyveryver-w0"));
}

TEST(RuntimeTest, MetricsCountTasksAndPolls) {
  auto rt = Builder().worker_threads(2).build();
  ASSERT_TRUE(rt.ok());
  // A task that waits until released, so it is alive while we look.
  auto release = std::make_shared<std::atomic<bool>>(false);
  auto waiter = [](std::shared_ptr<std::atomic<bool>> r) -> Task<void> {
    while (!r->load()) co_await yield_now();
  };
  JoinHandle<void> h = rt->spawn(waiter(release));
  RuntimeMetrics m = rt->metrics();
  EXPECT_EQ(m.workers, 2u);
  EXPECT_EQ(m.per_worker.size(), 2u);
  EXPECT_EQ(m.alive_tasks, 1u);
  release->store(true);
  rt->block_on(
      [](JoinHandle<void> h) -> Task<void> { co_await h; }(std::move(h)));
  m = rt->metrics();
  EXPECT_EQ(m.alive_tasks, 0u);
  uint64_t polls = 0;
  for (const auto& w : m.per_worker) polls += w.polls;
  EXPECT_GE(polls, 2u);
}

// Waits until worker `index` is parked, as its metrics report; false if it
// does not park within 10 s.
bool WaitUntilParked(const Runtime& rt, size_t index) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!rt.metrics().per_worker[index].parked) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

// Waits until some worker is parked (with two workers, called from a task:
// the other one).
bool WaitUntilAnyParked(const Runtime& rt) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (true) {
    for (const WorkerMetrics& w : rt.metrics().per_worker) {
      if (w.parked) return true;
    }
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
}

// Parks of all the runtime's workers so far.
uint64_t TotalParks(Runtime& rt) {
  uint64_t n = 0;
  for (const WorkerMetrics& w : rt.metrics().per_worker) n += w.parks;
  return n;
}

TEST(RuntimeTest, IdleRuntimeParksItsWorkers) {
  auto rt = Builder().worker_threads(2).build();
  ASSERT_TRUE(rt.ok());
  rt->block_on(Leaf(1));
  // Both workers asleep, and the last timed look of one that parked beside
  // a busy peer over (it ends as a park of its own): from then on the
  // counts must not move while nothing is spawned.
  uint64_t settled = TotalParks(*rt);
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(WaitUntilParked(*rt, 0));
    ASSERT_TRUE(WaitUntilParked(*rt, 1));
    std::this_thread::sleep_for(50ms);
    const uint64_t now = TotalParks(*rt);
    if (now == settled) break;
    settled = now;
  }
  auto before = rt->metrics();
  std::this_thread::sleep_for(100ms);
  auto after = rt->metrics();
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(before.per_worker[i].polls, after.per_worker[i].polls);
    EXPECT_EQ(before.per_worker[i].parks, after.per_worker[i].parks)
        << "worker " << i << " keeps waking up while idle";
  }
}

// A full local queue moves its older half to the inject queue with the
// task being pushed behind it: the pushed task is the newest, and must not
// run before the 128 it overflowed with (one worker, so nothing is stolen).
// The monitor looks at the workers every 250 us to 5 ms while one is
// awake; an idle runtime must not keep it (or anything) waking up.
TEST(RuntimeTest, IdleRuntimeMonitorSleeps) {
  auto rt = Builder().worker_threads(2).thread_name("idlemon").build();
  ASSERT_TRUE(rt.ok());
  rt->block_on(Leaf(1));
  ASSERT_TRUE(EventuallyHasThread("idlemon-m0"));
  // Until it has slept through two windows of 50 ms (it lingers 20 ms
  // after the last worker parks), for at most 10 s.
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  long last = ContextSwitches("idlemon-m0");
  for (int quiet = 0; quiet < 2;) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline)
        << "the monitor of an idle runtime never slept";
    std::this_thread::sleep_for(50ms);
    const long now = ContextSwitches("idlemon-m0");
    quiet = now == last ? quiet + 1 : 0;
    last = now;
  }
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(ContextSwitches("idlemon-m0"), last);
  // And it wakes for work again: a stuck worker's LIFO child still runs.
  EXPECT_EQ(rt->block_on(Leaf(2)), 2);
}

// A busy runtime whose tasks wake each other only between polls (here: by
// timers, every millisecond) has nothing that could stall in a LIFO slot,
// so its monitor keeps the relaxed pace: about 200 wake-ups a second where
// the fast pace makes about 4,000. A host too loaded to run the fast pace
// at full rate could let a broken monitor pass, never fail a sound one.
TEST(RuntimeTest, BusyRuntimeWithoutLifoWaitsKeepsTheMonitorRelaxed) {
  auto rt = Builder().worker_threads(2).thread_name("relaxmon").build();
  ASSERT_TRUE(rt.ok());
  ASSERT_TRUE(EventuallyHasThread("relaxmon-m0"));
  auto ticking = []() -> Task<int> {
    int ticks = 0;
    const auto until = std::chrono::steady_clock::now() + 600ms;
    while (std::chrono::steady_clock::now() < until) {
      co_await sleep(1ms);
      ++ticks;
    }
    co_return ticks;
  };
  JoinHandle<int> load = rt->spawn(ticking());
  // Past the monitor's first fast scans.
  std::this_thread::sleep_for(100ms);
  const long before = ContextSwitches("relaxmon-m0");
  std::this_thread::sleep_for(400ms);
  const long switches = ContextSwitches("relaxmon-m0") - before;
  auto wait = [](JoinHandle<int> h) -> Task<int> { co_return co_await h; };
  EXPECT_GT(rt->block_on(wait(std::move(load))), 0);
  // 400 ms: about 80 at the relaxed pace, about 1,600 at the fast one.
  EXPECT_LT(switches, 500) << "the monitor did not relax";
}

// A task spawns a child, which goes to its worker's LIFO slot, then waits
// for it without yielding. Run only by that worker, the child would wait
// for the end of a poll that waits for the child: the monitor moves it to
// where the other worker runs it. Gives up after 10 s instead of hanging.
TEST(RuntimeTest, ChildInTheLifoSlotOfABusyWorkerRunsElsewhere) {
  auto rt = Builder().worker_threads(2).build();
  ASSERT_TRUE(rt.ok());
  for (int round = 0; round < 5; ++round) {
    auto parent = []() -> Task<bool> {
      auto ran = std::make_shared<std::atomic<bool>>(false);
      spawn([](std::shared_ptr<std::atomic<bool>> ran) -> Task<void> {
        ran->store(true);
        co_return;
      }(ran))
          .detach();
      const auto give_up = std::chrono::steady_clock::now() + 10s;
      while (!ran->load() && std::chrono::steady_clock::now() < give_up) {
      }
      co_return ran->load();
    };
    EXPECT_TRUE(rt->block_on(parent())) << "round " << round;
  }
  uint64_t lifo_steals = 0;
  for (const WorkerMetrics& w : rt->metrics().per_worker) {
    lifo_steals += w.lifo_steals;
  }
  EXPECT_EQ(lifo_steals, 5u);
}

// The same with a child woken rather than spawned: a task wakes a waiter
// (which goes to the LIFO slot), then waits for it to run.
TEST(RuntimeTest, WokenTaskInTheLifoSlotOfABusyWorkerRunsElsewhere) {
  auto rt = Builder().worker_threads(2).build();
  ASSERT_TRUE(rt.ok());
  auto ran = std::make_shared<std::atomic<bool>>(false);
  auto [tx, rx] = oneshot::channel<int>();
  JoinHandle<void> waiter =
      rt->spawn([](oneshot::Receiver<int> rx,
                   std::shared_ptr<std::atomic<bool>> ran) -> Task<void> {
        (void)co_await std::move(rx);
        ran->store(true);
      }(std::move(rx), ran));
  auto waker = [](oneshot::Sender<int> tx,
                  std::shared_ptr<std::atomic<bool>> ran) -> Task<bool> {
    tx.send(1);
    const auto give_up = std::chrono::steady_clock::now() + 10s;
    while (!ran->load() && std::chrono::steady_clock::now() < give_up) {
    }
    co_return ran->load();
  };
  // The waiter must be waiting before the send, or there is nothing to wake.
  while (rt->dump().empty() ||
         rt->dump().front().state != TaskInfo::State::kWaiting) {
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_TRUE(rt->block_on(waker(std::move(tx), ran)));
  rt->block_on(
      [](JoinHandle<void> h) -> Task<void> { co_await h; }(std::move(waiter)));
}

TEST(RuntimeTest, OverflowKeepsThePushedTaskBehindTheOlderHalf) {
  auto rt = Builder().worker_threads(1).build();
  ASSERT_TRUE(rt.ok());
  constexpr int kChildren = 300;  // the local queue holds 256
  std::vector<int> order;
  auto child = [](std::vector<int>* order, int i) -> Task<void> {
    order->push_back(i);
    co_return;
  };
  auto root = [&]() -> Task<void> {
    std::vector<JoinHandle<void>> hs;
    for (int i = 0; i < kChildren; ++i) hs.push_back(spawn(child(&order, i)));
    for (auto& h : hs) co_await h;
  };
  rt->block_on(root());
  ASSERT_EQ(order.size(), static_cast<size_t>(kChildren));
  // Child 256 was displaced from the LIFO slot into the full queue of
  // children 0 to 255; children 0 to 127 went to the inject queue with it.
  const auto at = [&](int i) {
    return std::find(order.begin(), order.end(), i) - order.begin();
  };
  EXPECT_LT(at(0), at(256));
  EXPECT_LT(at(127), at(256));
}

// Two tasks that only yield, both on one worker, the other asleep: a yield
// requeues without a wake-up check unless the queue was empty, so this checks
// that the sleeper is still woken to take one of them. Here the first
// requeue lands on an empty queue (the child waits in the LIFO slot), whose
// check should wake the sleeper at once; the fair tick's check and the
// sleeper's own timed look would each do it too, so the test fails only if
// none of the three does.
TEST(RuntimeTest, YieldingTasksSpreadToASleepingWorker) {
  auto rt = Builder().worker_threads(2).build();
  ASSERT_TRUE(rt.ok());
  struct Seen {
    std::mutex mu;
    std::set<std::thread::id> threads;
    std::atomic<bool> both{false};
    const std::chrono::steady_clock::time_point give_up =
        std::chrono::steady_clock::now() + 5s;
  } seen;
  auto spin = [](Seen* s) -> Task<void> {
    while (!s->both.load() && std::chrono::steady_clock::now() < s->give_up) {
      {
        std::lock_guard<std::mutex> lock(s->mu);
        s->threads.insert(std::this_thread::get_id());
        if (s->threads.size() == 2) s->both.store(true);
      }
      co_await yield_now();
    }
  };
  auto parent = [&rt](Seen* s, decltype(spin) child) -> Task<void> {
    // Holding this worker until the other parks; the child then goes to the
    // LIFO slot, which spawning wakes nobody for.
    EXPECT_TRUE(WaitUntilAnyParked(*rt));
    JoinHandle<void> h = spawn(child(s));
    co_await child(s);
    co_await h;
  };
  rt->block_on(parent(&seen, spin));
  EXPECT_TRUE(seen.both.load()) << "both tasks stayed on one worker";
}

// A task scheduled on a busy worker that moves another from the LIFO slot
// into its empty queue wakes the parked peer at once; the peer's timed look
// (backed off to 160 ms here) is only the backstop for a race.
TEST(RuntimeTest, DisplacedTaskWakesAParkedPeer) {
  auto rt = Builder().worker_threads(2).build();
  ASSERT_TRUE(rt.ok());
  using Clock = std::chrono::steady_clock;
  constexpr int kRounds = 10;
  struct Shared {
    std::atomic<bool> ran[kRounds] = {};
    Clock::time_point started[kRounds];
  } s;
  auto marker = [](Shared* s, int k) -> Task<void> {
    s->started[k] = Clock::now();
    // release: publishes started[k] to the spawner's acquire load.
    s->ran[k].store(true, std::memory_order_release);
    co_return;
  };
  auto nothing = []() -> Task<void> { co_return; };
  std::vector<Clock::duration> waits;
  auto parent = [&]() -> Task<void> {
    // Never yields: the peer parks beside a busy worker, and its timed
    // looks back off to their longest (10 + 20 + 40 + 80 + 160 ms).
    std::this_thread::sleep_for(400ms);
    for (int k = 0; k < kRounds; ++k) {
      spawn(marker(&s, k)).detach();  // into the LIFO slot
      const auto t0 = Clock::now();
      spawn(nothing()).detach();  // moves the marker into the empty queue
      while (!s.ran[k].load(std::memory_order_acquire) &&
             Clock::now() - t0 < 2s) {
      }
      if (s.ran[k].load(std::memory_order_acquire)) {
        waits.push_back(s.started[k] - t0);
      }
      EXPECT_TRUE(WaitUntilAnyParked(*rt));  // the peer parks again
    }
    co_return;
  };
  rt->block_on(parent());
  // With the wake-up a round takes a few ms at most. Without it, a round
  // is this quick only when the peer's 160 ms look happens to fall in it.
  const auto quick = std::count_if(waits.begin(), waits.end(),
                                   [](auto d) { return d < 20ms; });
  EXPECT_GE(quick, kRounds / 2);
}

// The sleeper's timed look that backs up Requeue(): a worker that parked
// while its peer runs one long task keeps waking to check the queues. (An
// idle runtime does not: IdleRuntimeParksItsWorkers.)
TEST(RuntimeTest, WorkerParkedBesideABusyPeerLooksAgain) {
  auto rt = Builder().worker_threads(2).build();
  ASSERT_TRUE(rt.ok());
  // Holds its worker, without yielding, until released.
  std::atomic<bool> release{false};
  auto busy = [](std::atomic<bool>* release) -> Task<void> {
    while (!release->load()) std::this_thread::sleep_for(1ms);
    co_return;
  };
  JoinHandle<void> h = rt->spawn(busy(&release));
  ASSERT_TRUE(WaitUntilAnyParked(*rt));  // the other worker
  const uint64_t before = TotalParks(*rt);
  std::this_thread::sleep_for(500ms);
  const uint64_t after = TotalParks(*rt);
  release.store(true);
  rt->block_on(
      [](JoinHandle<void> h) -> Task<void> { co_await h; }(std::move(h)));
  // Looks 10, 20, 40, 80, 160 ms apart: three or four in this window;
  // without them, none.
  EXPECT_GE(after - before, 2u);
}

TEST(RuntimeTest, BlockOnCatchesAShortTaskWithoutSleeping) {
  if (internal::UsableCpus() < 2)
    GTEST_SKIP() << "block_on spins only with 2+ CPUs";
  auto rt = Builder().worker_threads(2).build();
  ASSERT_TRUE(rt.ok());
  // A block_on that sleeps on its futex is one voluntary context switch of
  // this thread; one that catches the task's end while spinning is none.
  // A busy machine can make a whole round miss; one good round of up to
  // twenty shows the spin (without it every round sleeps 200 times).
  constexpr int kCalls = 200;
  long fewest = kCalls;
  for (int round = 0; round < 20 && fewest >= kCalls / 4; ++round) {
    rusage before;
    ASSERT_EQ(getrusage(RUSAGE_THREAD, &before), 0);
    for (int i = 0; i < kCalls; ++i) ASSERT_EQ(rt->block_on(Leaf(i)), i);
    rusage after;
    ASSERT_EQ(getrusage(RUSAGE_THREAD, &after), 0);
    fewest = std::min(fewest, after.ru_nvcsw - before.ru_nvcsw);
  }
  EXPECT_LT(fewest, kCalls / 4);
}

TEST(RuntimeTest, LastWorkerToParkCatchesTheNextSpawnWhileSpinning) {
  if (internal::UsableCpus() < 2)
    GTEST_SKIP() << "workers spin only with 2+ CPUs";
  auto rt = Builder().worker_threads(2).build();
  ASSERT_TRUE(rt.ok());
  // Each block_on leaves the runtime idle and its next spawn comes from
  // this thread at once; the last worker to park is still spinning then,
  // unless the machine is busy, so keep going until one catches it.
  auto caught = [&] {
    uint64_t n = 0;
    for (const WorkerMetrics& w : rt->metrics().per_worker) {
      n += w.spin_wakeups;
    }
    return n;
  };
  for (int i = 0; i < 20000 && caught() == 0; ++i) {
    ASSERT_EQ(rt->block_on(Leaf(i)), i);
  }
  EXPECT_GT(caught(), 0u);
}

TEST(RuntimeTest, NothingSpinsOnOneCpu) {
  // A spinner on the only CPU would hold it from the thread that produces
  // what it waits for. The runtime reads the affinity of the thread that
  // builds it, which its threads inherit.
  struct RestoreAffinity {
    cpu_set_t saved;
    ~RestoreAffinity() { sched_setaffinity(0, sizeof saved, &saved); }
  } restore;
  ASSERT_EQ(sched_getaffinity(0, sizeof restore.saved, &restore.saved), 0);
  cpu_set_t one;
  CPU_ZERO(&one);
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &restore.saved)) {
      CPU_SET(cpu, &one);
      break;
    }
  }
  ASSERT_EQ(sched_setaffinity(0, sizeof one, &one), 0);
  auto rt = Builder().worker_threads(2).build();
  ASSERT_TRUE(rt.ok());
  auto calls = []() -> Task<int> {
    int sum = 0;
    for (int i = 0; i < 1000; ++i)
      sum += co_await spawn_blocking([] { return 1; });
    co_return sum;
  };
  for (int i = 0; i < 2; ++i) ASSERT_EQ(rt->block_on(calls()), 1000);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(rt->block_on(Leaf(i)), i);
  RuntimeMetrics m = rt->metrics();
  EXPECT_EQ(m.blocking.spinning_handoffs, 0u);
  for (const WorkerMetrics& w : m.per_worker) EXPECT_EQ(w.spin_wakeups, 0u);
}

TEST(RuntimeTest, ShutdownDestroysPendingTasks) {
  // Every frame that started is destroyed by shutdown (its guard's
  // destructor runs), and every handle reports cancellation.
  auto started = std::make_shared<std::atomic<int>>(0);
  auto destroyed = std::make_shared<std::atomic<int>>(0);
  std::vector<JoinHandle<void>> handles;
  {
    auto rt = Builder().worker_threads(2).build();
    ASSERT_TRUE(rt.ok());
    auto pending = [](std::shared_ptr<std::atomic<int>> s,
                      std::shared_ptr<std::atomic<int>> d) -> Task<void> {
      struct Count {
        std::shared_ptr<std::atomic<int>> d;
        ~Count() { d->fetch_add(1); }
      } count{d};
      s->fetch_add(1);
      // Waits on a task that never finishes.
      auto never = []() -> Task<void> {
        while (true) co_await yield_now();
      };
      co_await spawn(never());
    };
    for (int i = 0; i < 1000; ++i) {
      handles.push_back(rt->spawn(pending(started, destroyed)));
    }
    while (started->load() < 100) std::this_thread::sleep_for(1ms);
  }
  EXPECT_GE(started->load(), 100);
  EXPECT_EQ(destroyed->load(), started->load());
  auto rt = Builder().worker_threads(1).build();
  ASSERT_TRUE(rt.ok());
  auto count_cancelled = [](std::vector<JoinHandle<void>> hs) -> Task<int> {
    int n = 0;
    for (auto& h : hs) {
      try {
        co_await h;
      } catch (const TaskCancelled&) {
        ++n;
      }
    }
    co_return n;
  };
  EXPECT_EQ(rt->block_on(count_cancelled(std::move(handles))), 1000);
}

TEST(RuntimeTest, SpawnAfterShutdownIsCancelled) {
  auto rt = Builder().worker_threads(1).build();
  ASSERT_TRUE(rt.ok());
  rt->shutdown_timeout(1s);
  JoinHandle<int> h = rt->spawn(Leaf(1));
  EXPECT_TRUE(h.is_finished());
}

TEST(RuntimeTest, MovedFromRuntimeThrows) {
  auto rt = Builder().worker_threads(1).build();
  ASSERT_TRUE(rt.ok());
  Runtime moved = std::move(*rt);
  EXPECT_THROW(rt->metrics(), std::logic_error);
  EXPECT_EQ(moved.block_on(Leaf(2)), 2);
}

}  // namespace
}  // namespace tidepool
