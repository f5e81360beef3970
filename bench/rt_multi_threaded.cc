// Scheduler microbenchmarks, the counterparts of tokio's
// benches/rt_multi_threaded.rs. Like tokio's, they are regression checks of
// the scheduler's mechanics, not a measure of real-world performance.
//
// Differences from tokio that hold for every case:
//  - 2 worker threads instead of tokio's 4: the reference machine has 2 cores.
//  - tidepool has no channels yet, so completion is observed by awaiting
//    JoinHandles where tokio counts down an atomic and signals a std mpsc
//    channel. Each case also checks its result, so a lost or duplicated task
//    fails the benchmark instead of skewing it.
//  - tidepool's block_on runs its task on a worker; tokio's runs the future
//    on the calling thread. Work started "inside block_on" is therefore
//    worker-local here.
//
// The runtime is built once per benchmark run, outside the timed loop, so
// thread start-up is not measured.

#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/check.h"
#include "runtime/runtime.h"

namespace {

constexpr int kWorkers = 2;
constexpr int kNumSpawn = 10'000;

absl::StatusOr<tidepool::Runtime> MakeRuntime(benchmark::State& state) {
  absl::StatusOr<tidepool::Runtime> rt =
      tidepool::Builder().worker_threads(kWorkers).build();
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

tidepool::Task<int64_t> SpawnManyLocal() {
  std::vector<tidepool::JoinHandle<int64_t>> hs;
  hs.reserve(kNumSpawn);
  for (int i = 0; i < kNumSpawn; ++i) hs.push_back(tidepool::spawn(One()));
  co_return co_await JoinAll(&hs);
}

void BM_spawn_many_local(benchmark::State& state) {
  auto rt = MakeRuntime(state);
  if (!rt.ok()) return;
  for (auto _ : state) {
    if (!Check(state, rt->block_on(SpawnManyLocal()), kNumSpawn)) break;
  }
  state.SetItemsProcessed(state.iterations() * kNumSpawn);
}

// Spawns go through the runtime's injection queue, as tokio's rt.spawn from a
// non-worker thread does.
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

tidepool::Task<int64_t> YieldMany() {
  for (int i = 0; i < kNumYield; ++i) co_await tidepool::yield_now();
  co_return 1;
}

// Items are yields, so items/s is the yield rate.
void BM_yield_many(benchmark::State& state) {
  auto rt = MakeRuntime(state);
  if (!rt.ok()) return;
  std::vector<tidepool::JoinHandle<int64_t>> hs;
  hs.reserve(kYieldTasks);
  for (auto _ : state) {
    for (int i = 0; i < kYieldTasks; ++i) hs.push_back(rt->spawn(YieldMany()));
    if (!Check(state, rt->block_on(JoinAll(&hs)), kYieldTasks)) break;
  }
  state.SetItemsProcessed(state.iterations() * kYieldTasks * kNumYield);
}

constexpr int kNumPings = 1'000;

// tokio's round: A spawns B, then A sends on oneshot 1, B receives and
// replies on oneshot 2, A receives. Without channels, the ping travels as B's
// argument when A spawns it and the pong as B's result through its
// JoinHandle. So B never waits for the ping (in tokio it may be polled first
// and park on it); A's wait for the pong, a cross-task wake-up, is kept.
tidepool::Task<int64_t> Pong(int64_t ping) { co_return ping + 1; }

tidepool::Task<int64_t> PingPongRound(int64_t ping) {
  const int64_t pong = co_await tidepool::spawn(Pong(ping));
  co_return pong == ping + 1 ? 1 : 0;
}

// tokio's driver spawns the rounds and leaves them detached, the last one to
// finish signals; here the driver awaits every round's JoinHandle instead.
tidepool::Task<int64_t> PingPong() {
  std::vector<tidepool::JoinHandle<int64_t>> hs;
  hs.reserve(kNumPings);
  for (int i = 0; i < kNumPings; ++i) {
    hs.push_back(tidepool::spawn(PingPongRound(i)));
  }
  co_return co_await JoinAll(&hs);
}

void BM_ping_pong(benchmark::State& state) {
  auto rt = MakeRuntime(state);
  if (!rt.ok()) return;
  for (auto _ : state) {
    if (!Check(state, rt->block_on(PingPong()), kNumPings)) break;
  }
  state.SetItemsProcessed(state.iterations() * kNumPings);
}

constexpr int kChain = 1'000;

// In tokio each link spawns the next and finishes at once, so only about two
// links exist at a time, and the last one signals a channel. Here each link
// awaits the next one's JoinHandle, so all 1,000 stay suspended until the end
// of the chain and then complete in a cascade of 1,000 join wake-ups: the
// case measures a spawn plus a join per link, not a spawn alone.
tidepool::Task<int64_t> Link(int n) {
  if (n == 0) co_return 0;
  co_return 1 + co_await tidepool::spawn(Link(n - 1));
}

void BM_chained_spawn(benchmark::State& state) {
  auto rt = MakeRuntime(state);
  if (!rt.ok()) return;
  for (auto _ : state) {
    if (!Check(state, rt->block_on(Link(kChain)), kChain)) break;
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
BENCHMARK(BM_spawn_blocking_round_trip)
    ->ArgName("callers")
    ->Arg(1)
    ->Arg(16)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
