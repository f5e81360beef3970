// Microbenchmarks of runtime/sync, after tokio's benches/sync_mpsc.rs,
// sync_mpsc_oneshot.rs, sync_rwlock.rs and sync_semaphore.rs: channel
// throughput with 1 and 8 producers, oneshot ping-pong, and Mutex and
// Semaphore under contention. Like tokio's, they are regression checks of
// the primitives' mechanics, not a measure of real-world performance.
//
// Every case runs on a runtime with 2 workers (the reference machine has 2
// cores; TIDEPOOL_BENCH_WORKERS overrides), built once per benchmark outside
// the timed loop, and checks its own result, so that a lost or duplicated
// message fails the benchmark instead of skewing it.

#include <benchmark/benchmark.h>

#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/check.h"
#include "bench/workers.h"
#include "runtime/runtime.h"
#include "runtime/sync/mpsc.h"
#include "runtime/sync/mutex.h"
#include "runtime/sync/oneshot.h"
#include "runtime/sync/semaphore.h"

namespace {

absl::StatusOr<tidepool::Runtime> MakeRuntime(benchmark::State& state) {
  absl::StatusOr<tidepool::Runtime> rt =
      tidepool::Builder().worker_threads(tidepool::bench::Workers()).build();
  if (!rt.ok()) state.SkipWithError(rt.status().ToString().c_str());
  return rt;
}

using tidepool::bench::Check;

constexpr int kMessages = 100'000;

template <typename Sender>
tidepool::Task<void> Produce(Sender tx, int n) {
  for (int i = 0; i < n; ++i) {
    if constexpr (std::is_same_v<Sender, tidepool::mpsc::Sender<int64_t>>) {
      co_await tx.send(1);
    } else {
      tx.send(1);
    }
  }
}

// `producers` tasks send kMessages in total; the receiving task (the
// block_on task) sums them until every sender is gone.
template <typename Sender, typename Receiver>
tidepool::Task<int64_t> Throughput(std::pair<Sender, Receiver> ch,
                                   int producers) {
  auto [tx, rx] = std::move(ch);
  for (int p = 0; p < producers; ++p) {
    tidepool::spawn(Produce(tx, kMessages / producers)).detach();
  }
  { Sender dropped = std::move(tx); }
  int64_t sum = 0;
  while (std::optional<int64_t> v = co_await rx.recv()) sum += *v;
  co_return sum;
}

// Bounded channel with room for 1,024 values: producers wait whenever the
// receiver falls behind.
void BM_mpsc_bounded(benchmark::State& state) {
  auto rt = MakeRuntime(state);
  if (!rt.ok()) return;
  const int producers = static_cast<int>(state.range(0));
  for (auto _ : state) {
    const int64_t got = rt->block_on(
        Throughput(tidepool::mpsc::channel<int64_t>(1024), producers));
    if (!Check(state, got, kMessages / producers * producers)) break;
  }
  state.SetItemsProcessed(state.iterations() * kMessages);
}

void BM_mpsc_unbounded(benchmark::State& state) {
  auto rt = MakeRuntime(state);
  if (!rt.ok()) return;
  const int producers = static_cast<int>(state.range(0));
  for (auto _ : state) {
    const int64_t got = rt->block_on(
        Throughput(tidepool::mpsc::unbounded_channel<int64_t>(), producers));
    if (!Check(state, got, kMessages / producers * producers)) break;
  }
  state.SetItemsProcessed(state.iterations() * kMessages);
}

constexpr int kRounds = 10'000;

// A ball carries the sender for the reply, so every hit is a fresh channel.
struct Ball {
  int64_t hits;
  tidepool::oneshot::Sender<Ball> back;
};

tidepool::Task<int64_t> Player(tidepool::oneshot::Receiver<Ball> rx,
                               int rounds) {
  int64_t last = -1;
  for (int i = 0; i < rounds; ++i) {
    absl::StatusOr<Ball> ball = co_await std::move(rx);
    if (!ball.ok()) co_return -1;
    last = ball->hits;
    auto [tx, next] = tidepool::oneshot::channel<Ball>();
    rx = std::move(next);
    ball->back.send(Ball{ball->hits + 1, std::move(tx)});
  }
  co_return last;
}

tidepool::Task<int64_t> PingPong() {
  auto [a_tx, a_rx] = tidepool::oneshot::channel<Ball>();
  auto [b_tx, b_rx] = tidepool::oneshot::channel<Ball>();
  tidepool::JoinHandle<int64_t> a =
      tidepool::spawn(Player(std::move(a_rx), kRounds));
  tidepool::JoinHandle<int64_t> b =
      tidepool::spawn(Player(std::move(b_rx), kRounds));
  a_tx.send(Ball{0, std::move(b_tx)});
  co_await a;
  co_return co_await b;
}

// Two tasks bat a value back and forth; an item is one hit (a channel
// created, sent on, awaited).
void BM_oneshot_ping_pong(benchmark::State& state) {
  auto rt = MakeRuntime(state);
  if (!rt.ok()) return;
  for (auto _ : state) {
    if (!Check(state, rt->block_on(PingPong()), 2 * kRounds - 1)) break;
  }
  state.SetItemsProcessed(state.iterations() * 2 * kRounds);
}

constexpr int kLocks = 20'000;

// `tasks` tasks each take the lock kLocks / tasks times; half of the
// critical sections yield while holding it, so waiters queue up.
tidepool::Task<int64_t> MutexContention(int tasks) {
  tidepool::Mutex<int64_t> m(0);
  auto work = [](tidepool::Mutex<int64_t>* m, int n) -> tidepool::Task<void> {
    for (int i = 0; i < n; ++i) {
      tidepool::MutexGuard<int64_t> g = co_await m->lock();
      ++*g;
      if (i % 2 == 0) co_await tidepool::yield_now();
    }
  };
  std::vector<tidepool::JoinHandle<void>> hs;
  for (int t = 0; t < tasks; ++t) {
    hs.push_back(tidepool::spawn(work(&m, kLocks / tasks)));
  }
  for (auto& h : hs) co_await h;
  co_return **m.try_lock();
}

void BM_mutex_contended(benchmark::State& state) {
  auto rt = MakeRuntime(state);
  if (!rt.ok()) return;
  const int tasks = static_cast<int>(state.range(0));
  for (auto _ : state) {
    const int64_t got = rt->block_on(MutexContention(tasks));
    if (!Check(state, got, kLocks / tasks * tasks)) break;
  }
  state.SetItemsProcessed(state.iterations() * kLocks);
}

// `tasks` tasks share a semaphore with 2 permits, each acquiring and
// releasing kLocks / tasks times, with a yield while holding every other
// permit.
tidepool::Task<int64_t> SemaphoreContention(int tasks) {
  tidepool::Semaphore sem(2);
  auto work = [](tidepool::Semaphore* sem, int n) -> tidepool::Task<int64_t> {
    int64_t acquired = 0;
    for (int i = 0; i < n; ++i) {
      absl::StatusOr<tidepool::SemaphorePermit> p = co_await sem->acquire();
      acquired += p.ok();
      if (i % 2 == 0) co_await tidepool::yield_now();
    }
    co_return acquired;
  };
  std::vector<tidepool::JoinHandle<int64_t>> hs;
  for (int t = 0; t < tasks; ++t) {
    hs.push_back(tidepool::spawn(work(&sem, kLocks / tasks)));
  }
  int64_t sum = 0;
  for (auto& h : hs) sum += co_await h;
  co_return sem.available_permits() == 2 ? sum : -1;
}

void BM_semaphore_contended(benchmark::State& state) {
  auto rt = MakeRuntime(state);
  if (!rt.ok()) return;
  const int tasks = static_cast<int>(state.range(0));
  for (auto _ : state) {
    const int64_t got = rt->block_on(SemaphoreContention(tasks));
    if (!Check(state, got, kLocks / tasks * tasks)) break;
  }
  state.SetItemsProcessed(state.iterations() * kLocks);
}

}  // namespace

BENCHMARK(BM_mpsc_bounded)
    ->ArgName("producers")
    ->Arg(1)
    ->Arg(8)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_mpsc_unbounded)
    ->ArgName("producers")
    ->Arg(1)
    ->Arg(8)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_oneshot_ping_pong)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_mutex_contended)
    ->ArgName("tasks")
    ->Arg(1)
    ->Arg(16)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_semaphore_contended)
    ->ArgName("tasks")
    ->Arg(1)
    ->Arg(16)
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
