// oneTBB under the scheduler workloads of tidepool's
// bench/rt_multi_threaded.cc (after tokio's benches/rt_multi_threaded.rs),
// with plain lambdas as tasks. bench/compare runs it beside tidepool and the
// tokio and Asio peers; flags and output are those of bench/peer_harness.h.
//
// Threads: a task_arena of --workers worker threads with no slot reserved
// for the main thread, which stays outside like the other peers' main
// threads (global_control raises TBB's default of one worker thread per core
// less the main thread). The main thread hands work in with
// task_arena::enqueue (TBB's FIFO, the counterpart of a remote spawn); a
// task spawns with task_group::run (the worker's own deque, the counterpart
// of a local spawn).
//
// What TBB cannot express the same way, and how it is written instead:
//  - no join handles: every case counts its tasks down and the last one
//    wakes the main thread (tokio's own benchmarks do the same); local
//    spawns also belong to a task_group that their driver task waits on,
//    since TBB requires it;
//  - no coroutine suspension: a yield re-enqueues the task's next step (the
//    arena's FIFO, behind the other tasks; task_group::run would run it
//    again at once, LIFO), and ping_pong's "A awaits the pong" is B running
//    A's continuation as a new task;
//  - no blocking pool and no channels: spawn_blocking and mpsc are left
//    out.

#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_group.h>

#include <cstdint>

#include "bench/peer_harness.h"

namespace {

using tidepool::bench::CheckResult;
using tidepool::bench::Countdown;
using tidepool::bench::Measure;
using tidepool::bench::PeerOptions;

constexpr int kNumSpawn = 10'000;
constexpr int kYieldTasks = 200;
constexpr int kNumYield = 1'000;
constexpr int kNumPings = 1'000;
constexpr int kChain = 1'000;

// Runs `body(tg)` as a task on an arena worker and waits there for every
// task it adds to tg; the leaves wake the main thread through `done`.
template <typename Body>
void OnWorker(tbb::task_arena& arena, Body body) {
  arena.enqueue([body] {
    tbb::task_group tg;
    body(tg);
    tg.wait();
  });
}

void SpawnManyLocal(const PeerOptions& opts, tbb::task_arena& arena) {
  constexpr std::string_view kName = "spawn_many_local";
  if (!opts.Selected(kName)) return;
  Countdown done;
  Measure(opts, kName, [&] {
    done.Arm(kNumSpawn);
    OnWorker(arena, [&done](tbb::task_group& tg) {
      for (int i = 0; i < kNumSpawn; ++i) {
        tg.run([&done] { done.CountDown(); });
      }
    });
    CheckResult(kName, done.Wait(), 0);
  });
}

void SpawnManyRemoteIdle(const PeerOptions& opts, tbb::task_arena& arena) {
  constexpr std::string_view kName = "spawn_many_remote_idle";
  if (!opts.Selected(kName)) return;
  Countdown done;
  Measure(opts, kName, [&] {
    done.Arm(kNumSpawn);
    for (int i = 0; i < kNumSpawn; ++i) {
      arena.enqueue([&done] { done.CountDown(); });
    }
    CheckResult(kName, done.Wait(), 0);
  });
}

struct Yielder {
  tbb::task_arena* arena;
  Countdown* done;
  int left;

  void operator()() const {
    if (left == 0) {
      done->CountDown();
      return;
    }
    arena->enqueue(Yielder{arena, done, left - 1});
  }
};

void YieldMany(const PeerOptions& opts, tbb::task_arena& arena) {
  constexpr std::string_view kName = "yield_many";
  if (!opts.Selected(kName)) return;
  Countdown done;
  Measure(opts, kName, [&] {
    done.Arm(kYieldTasks);
    for (int i = 0; i < kYieldTasks; ++i) {
      arena.enqueue(Yielder{&arena, &done, kNumYield});
    }
    CheckResult(kName, done.Wait(), 0);
  });
}

// A round: A runs B with the ping; B runs A's continuation with the pong;
// the continuation checks it and counts down.
void PingPong(const PeerOptions& opts, tbb::task_arena& arena) {
  constexpr std::string_view kName = "ping_pong";
  if (!opts.Selected(kName)) return;
  Countdown done;
  Measure(opts, kName, [&] {
    done.Arm(kNumPings);
    OnWorker(arena, [&done](tbb::task_group& tg) {
      for (int i = 0; i < kNumPings; ++i) {
        tg.run([&tg, &done, ping = int64_t{i}] {
          tg.run([&tg, &done, ping] {
            tg.run([&done, ping, pong = ping + 1] {
              if (pong == ping + 1) done.CountDown();
            });
          });
        });
      }
    });
    CheckResult(kName, done.Wait(), 0);
  });
}

struct Link {
  tbb::task_group* tg;
  Countdown* done;
  int n;

  void operator()() const {
    if (n == 0) {
      done->CountDown();
      return;
    }
    tg->run(Link{tg, done, n - 1});
  }
};

void ChainedSpawn(const PeerOptions& opts, tbb::task_arena& arena) {
  constexpr std::string_view kName = "chained_spawn";
  if (!opts.Selected(kName)) return;
  Countdown done;
  Measure(opts, kName, [&] {
    done.Arm(1);
    OnWorker(arena, [&done](tbb::task_group& tg) {
      tg.run(Link{&tg, &done, kChain});
    });
    CheckResult(kName, done.Wait(), 0);
  });
}

}  // namespace

int main(int argc, char** argv) {
  const PeerOptions opts = tidepool::bench::ParsePeerOptions(argc, argv);
  // TBB counts the main thread in max_allowed_parallelism.
  tbb::global_control threads(tbb::global_control::max_allowed_parallelism,
                              opts.workers + 1);
  tbb::task_arena arena(opts.workers, /*reserved_for_masters=*/0);
  SpawnManyLocal(opts, arena);
  SpawnManyRemoteIdle(opts, arena);
  YieldMany(opts, arena);
  PingPong(opts, arena);
  ChainedSpawn(opts, arena);
  return 0;
}
