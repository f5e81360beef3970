// The LIFO stall (issue 21): a task spawns a child, then computes for
// 50 ms without yielding, on 2 workers with the other one idle. The child
// sits in the spawning worker's LIFO slot; this measures how long after
// the spawn it starts. tokio 1.24 starts it only when the parent's poll
// ends (50 ms, tokio#4941); tidepool's monitor takes it from the slot
// (docs/architecture.md, "The LIFO slot").
//
// Run: bazel run //bench:lifo_stall
//   (each of 21 repetitions is one spawn, its time the child's start
//   latency; read the median)
#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

#include "runtime/runtime.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Probe {
  Clock::time_point spawned;
  // release/acquire: the child's start time, published to the parent.
  std::atomic<bool> started{false};
  Clock::time_point started_at;
};

tidepool::Task<void> Child(Probe* p) {
  p->started_at = Clock::now();
  p->started.store(true, std::memory_order_release);
  co_return;
}

// Computes for `busy` (or until the child started, to keep the run short
// once the latency is known), then reports the child's start latency.
tidepool::Task<double> Parent(std::chrono::milliseconds busy) {
  auto p = std::make_unique<Probe>();
  p->spawned = Clock::now();
  tidepool::spawn(Child(p.get())).detach();
  const auto until = p->spawned + busy;
  while (!p->started.load(std::memory_order_acquire) && Clock::now() < until) {
  }
  // The child may start after the parent's poll ends, as on tokio.
  while (!p->started.load(std::memory_order_acquire))
    co_await tidepool::yield_now();
  co_return std::chrono::duration<double>(p->started_at - p->spawned).count();
}

void BM_lifo_stall_child_start(benchmark::State& state) {
  auto rt = tidepool::Builder().worker_threads(2).build();
  if (!rt.ok()) {
    state.SkipWithError(rt.status().ToString().c_str());
    return;
  }
  for (auto _ : state) {
    // The other worker goes to sleep between iterations, as in the issue.
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    state.SetIterationTime(rt->block_on(Parent(std::chrono::milliseconds(50))));
  }
}

}  // namespace

BENCHMARK(BM_lifo_stall_child_start)
    ->UseManualTime()
    ->Iterations(1)
    ->Repetitions(21)
    ->Unit(benchmark::kMicrosecond);
