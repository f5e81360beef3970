// Scheduler microbenchmarks, the counterparts of tokio's
// benches/rt_multi_threaded.rs. Like tokio's, they are regression checks of
// the scheduler's mechanics, not a measure of real-world performance.
// bench/compare runs them beside tokio (bench/peers/tokio_rt), Boost.Asio
// and oneTBB, which do the same work, and bench/sync_bench's mpsc cases
// beside tokio's channels.
//
// Differences from tokio that hold for every case:
//  - 2 worker threads instead of tokio's 4: the reference machine has 2 cores
//    (TIDEPOOL_BENCH_WORKERS overrides, see bench/workers.h).
//  - tidepool's block_on runs its task on a worker; tokio's runs the future
//    on the calling thread, where tokio::spawn goes to the injection queue.
//    Work started "inside block_on" is therefore worker-local here (the
//    tokio peer runs its driver as a spawned task to match).
//  - Tasks that tokio's benchmark leaves detached are detached here too and
//    count down; the last one wakes the driver through a Notify where tokio
//    signals a std channel. Each case checks the count, so a lost or
//    duplicated task fails the benchmark instead of skewing it.
//
// The runtime is built once per benchmark run, outside the timed loop, so
// thread start-up is not measured.

#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/check.h"
#include "bench/workers.h"
#include "runtime/runtime.h"

namespace {

constexpr int kNumSpawn = 10'000;

absl::StatusOr<tidepool::Runtime> MakeRuntime(benchmark::State& state) {
  absl::StatusOr<tidepool::Runtime> rt =
      tidepool::Builder().worker_threads(tidepool::bench::Workers()).build();
  if (!rt.ok()) state.SkipWithError(rt.status().ToString().c_str());
  return rt;
}

// Every task in these benchmarks returns 1 so the joiner can count them.
tidepool::Task<int64_t> One() { co_return 1; }

template <typename T>
tidepool::Task<int64_t> JoinAll(std::vector<tidepool::JoinHandle<T>>* hs) {
  int64_t sum = 0;
  for (auto& h : *hs) sum += co_await h;
  hs->clear();
  co_return sum;
}

using tidepool::bench::Check;

// Detached tasks count down; the last one wakes the driver. Declare it
// before the Runtime: the last task may still be returning from
// notify_one() when the driver wakes, and the Runtime's destructor joins
// the workers.
struct Countdown {
  std::atomic<int64_t> remaining{0};
  tidepool::Notify done;

  void Arm(int64_t n) {
    // relaxed: the tasks that count down are spawned after this, and the
    // spawn publishes it.
    remaining.store(n, std::memory_order_relaxed);
  }
  void CountDown() {
    // acq_rel: the last decrement acquires every earlier one, so the driver,
    // woken through the Notify, sees all the tasks done.
    if (remaining.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      done.notify_one();
    }
  }
  // Waits for the last CountDown; returns what is left (0 unless tasks were
  // lost or ran twice).
  tidepool::Task<int64_t> Wait() {
    co_await done.notified();
    // acquire: pairs with the decrements, see CountDown.
    co_return remaining.load(std::memory_order_acquire);
  }
};

tidepool::Task<void> Leaf(Countdown* c) {
  c->CountDown();
  co_return;
}

tidepool::Task<int64_t> SpawnManyLocal(Countdown* c) {
  c->Arm(kNumSpawn);
  for (int i = 0; i < kNumSpawn; ++i) tidepool::spawn(Leaf(c)).detach();
  co_return co_await c->Wait();
}

void BM_spawn_many_local(benchmark::State& state) {
  Countdown c;
  auto rt = MakeRuntime(state);
  if (!rt.ok()) return;
  for (auto _ : state) {
    if (!Check(state, rt->block_on(SpawnManyLocal(&c)), 0)) break;
  }
  state.SetItemsProcessed(state.iterations() * kNumSpawn);
}

// As in tokio: spawned from outside the runtime (the injection queue),
// joined through JoinHandles.
void BM_spawn_many_remote_idle(benchmark::State& state) {
  auto rt = MakeRuntime(state);
  if (!rt.ok()) return;
  std::vector<tidepool::JoinHandle<int64_t>> hs;
  hs.reserve(kNumSpawn);
  for (auto _ : state) {
    for (int i = 0; i < kNumSpawn; ++i) hs.push_back(rt->spawn(One()));
    if (!Check(state, rt->block_on(JoinAll(&hs)), kNumSpawn)) break;
  }
  state.SetItemsProcessed(state.iterations() * kNumSpawn);
}

constexpr int kYieldTasks = 200;
constexpr int kNumYield = 1'000;

tidepool::Task<void> YieldMany(Countdown* c) {
  for (int i = 0; i < kNumYield; ++i) co_await tidepool::yield_now();
  c->CountDown();
}

// Spawned from outside, as in tokio. Items are yields, so items/s is the
// yield rate.
void BM_yield_many(benchmark::State& state) {
  Countdown c;
  auto rt = MakeRuntime(state);
  if (!rt.ok()) return;
  for (auto _ : state) {
    c.Arm(kYieldTasks);
    for (int i = 0; i < kYieldTasks; ++i) rt->spawn(YieldMany(&c)).detach();
    if (!Check(state, rt->block_on(c.Wait()), 0)) break;
  }
  state.SetItemsProcessed(state.iterations() * kYieldTasks * kNumYield);
}

constexpr int kNumPings = 1'000;

// tokio's round: A spawns B, then A sends on oneshot 1, B receives and
// replies on oneshot 2, A receives and counts down.
tidepool::Task<void> Pong(tidepool::oneshot::Receiver<int64_t> rx1,
                          tidepool::oneshot::Sender<int64_t> tx2) {
  absl::StatusOr<int64_t> ping = co_await std::move(rx1);
  if (ping.ok()) tx2.send(*ping + 1);
}

tidepool::Task<void> PingPongRound(Countdown* c, int64_t ping) {
  auto [tx1, rx1] = tidepool::oneshot::channel<int64_t>();
  auto [tx2, rx2] = tidepool::oneshot::channel<int64_t>();
  tidepool::spawn(Pong(std::move(rx1), std::move(tx2))).detach();
  tx1.send(ping);
  absl::StatusOr<int64_t> pong = co_await std::move(rx2);
  // A wrong pong leaves the count above zero, which fails the check.
  if (pong.ok() && *pong == ping + 1) c->CountDown();
}

tidepool::Task<int64_t> PingPong(Countdown* c) {
  c->Arm(kNumPings);
  for (int i = 0; i < kNumPings; ++i) {
    tidepool::spawn(PingPongRound(c, i)).detach();
  }
  co_return co_await c->Wait();
}

void BM_ping_pong(benchmark::State& state) {
  Countdown c;
  auto rt = MakeRuntime(state);
  if (!rt.ok()) return;
  for (auto _ : state) {
    if (!Check(state, rt->block_on(PingPong(&c)), 0)) break;
  }
  state.SetItemsProcessed(state.iterations() * kNumPings);
}

constexpr int kChain = 1'000;

// As in tokio: each link spawns the next and finishes at once, so about two
// links exist at a time; the last one wakes the driver.
tidepool::Task<void> Link(Countdown* c, int n) {
  if (n == 0) {
    c->CountDown();
  } else {
    tidepool::spawn(Link(c, n - 1)).detach();
  }
  co_return;
}

tidepool::Task<int64_t> ChainedSpawn(Countdown* c) {
  c->Arm(1);
  tidepool::spawn(Link(c, kChain)).detach();
  co_return co_await c->Wait();
}

// The LIFO stall (tokio#4941): a task spawns a child, then computes without
// yielding until the child has started, but for at most kStallBudget. The
// child waits in the parent's LIFO slot; an iteration takes about as long
// as the child waited to start (on tokio 1.24, the whole budget).
constexpr auto kStallBudget = std::chrono::milliseconds(50);

tidepool::Task<void> StallChild(std::atomic<bool>* started) {
  started->store(true, std::memory_order_release);
  co_return;
}

tidepool::Task<int64_t> StallParent() {
  std::atomic<bool> started{false};
  tidepool::spawn(StallChild(&started)).detach();
  const auto until = std::chrono::steady_clock::now() + kStallBudget;
  while (!started.load(std::memory_order_acquire) &&
         std::chrono::steady_clock::now() < until) {
  }
  // Past the budget the child runs once this poll ends.
  while (!started.load(std::memory_order_acquire)) {
    co_await tidepool::yield_now();
  }
  co_return 0;
}

void BM_lifo_stall(benchmark::State& state) {
  auto rt = MakeRuntime(state);
  if (!rt.ok()) return;
  for (auto _ : state) {
    if (!Check(state, rt->block_on(StallParent()), 0)) break;
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_chained_spawn(benchmark::State& state) {
  Countdown c;
  auto rt = MakeRuntime(state);
  if (!rt.ok()) return;
  for (auto _ : state) {
    if (!Check(state, rt->block_on(ChainedSpawn(&c)), 0)) break;
  }
  state.SetItemsProcessed(state.iterations() * kChain);
}

constexpr int kBlockingCalls = 16;

// Awaiting each call before the next makes every call a full round trip:
// hand-off to a blocking thread, run, wake the worker, resume.
tidepool::Task<int64_t> BlockingCaller() {
  int64_t sum = 0;
  for (int i = 0; i < kBlockingCalls; ++i) {
    sum += co_await tidepool::spawn_blocking([] { return int64_t{1}; });
  }
  co_return sum;
}

tidepool::Task<int64_t> BlockingCallers(int callers) {
  std::vector<tidepool::JoinHandle<int64_t>> hs;
  hs.reserve(callers);
  for (int i = 0; i < callers; ++i) {
    hs.push_back(tidepool::spawn(BlockingCaller()));
  }
  co_return co_await JoinAll(&hs);
}

// Not in tokio's file; it covers the blocking pool's hand-off, which the
// scheduler cases above never touch.
void BM_spawn_blocking_round_trip(benchmark::State& state) {
  const int callers = static_cast<int>(state.range(0));
  auto rt = MakeRuntime(state);
  if (!rt.ok()) return;
  for (auto _ : state) {
    if (!Check(state, rt->block_on(BlockingCallers(callers)),
               int64_t{callers} * kBlockingCalls)) {
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * callers * kBlockingCalls);
}

BENCHMARK(BM_spawn_many_local)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_spawn_many_remote_idle)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_yield_many)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ping_pong)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_chained_spawn)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_lifo_stall)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_spawn_blocking_round_trip)
    ->ArgName("callers")
    ->Arg(1)
    ->Arg(16)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
