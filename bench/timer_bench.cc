// Timers: the wheel alone (1,000,000 timers filed then cancelled, or filed
// then fired) and end to end (tasks sleeping on a running runtime).
#include <chrono>
#include <random>
#include <vector>

#include "benchmark/benchmark.h"
#include "runtime/internal/timer_wheel.h"
#include "runtime/runtime.h"

namespace {

using tidepool::internal::TimerEntry;
using tidepool::internal::TimerWheel;

constexpr int kTimers = 1'000'000;

// Deadlines spread over a minute, as a server's timeouts would be.
std::vector<TimerEntry> MakeEntries() {
  std::vector<TimerEntry> entries(kTimers);
  std::minstd_rand rng(1);
  for (auto& e : entries) e.deadline_ms = 1 + rng() % 60'000;
  return entries;
}

void BM_WheelInsertCancel(benchmark::State& state) {
  std::vector<TimerEntry> entries = MakeEntries();
  for (auto _ : state) {
    TimerWheel wheel;
    for (auto& e : entries) wheel.Insert(&e);
    for (auto& e : entries) wheel.Remove(&e);
    benchmark::DoNotOptimize(wheel.empty());
  }
  state.SetItemsProcessed(state.iterations() * kTimers);
}
BENCHMARK(BM_WheelInsertCancel)->Unit(benchmark::kMillisecond);

void BM_WheelInsertFire(benchmark::State& state) {
  std::vector<TimerEntry> entries = MakeEntries();
  for (auto _ : state) {
    TimerWheel wheel;
    for (auto& e : entries) wheel.Insert(&e);
    size_t fired = 0;
    // Advance a millisecond at a time, as the workers do.
    for (uint64_t now = 1; now <= 60'000; ++now) {
      wheel.Advance(now, [&](TimerEntry*) { ++fired; });
    }
    if (fired != entries.size()) state.SkipWithError("not every timer fired");
  }
  state.SetItemsProcessed(state.iterations() * kTimers);
}
BENCHMARK(BM_WheelInsertFire)->Unit(benchmark::kMillisecond);

// 10,000 tasks each sleeping 1 ms on a 2-worker runtime: registration,
// firing and the wake-ups together.
void BM_SleepingTasks(benchmark::State& state) {
  auto rt = tidepool::Builder().worker_threads(2).build();
  constexpr int kTasks = 10'000;
  auto sleeper = []() -> tidepool::Task<void> {
    co_await tidepool::sleep(std::chrono::milliseconds(1));
  };
  auto root = [&]() -> tidepool::Task<void> {
    std::vector<tidepool::JoinHandle<void>> hs;
    hs.reserve(kTasks);
    for (int i = 0; i < kTasks; ++i) hs.push_back(tidepool::spawn(sleeper()));
    for (auto& h : hs) co_await h;
  };
  for (auto _ : state) rt->block_on(root());
  state.SetItemsProcessed(state.iterations() * kTasks);
}
BENCHMARK(BM_SleepingTasks)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
