// Boost.Asio's thread_pool under the scheduler workloads of tidepool's
// bench/rt_multi_threaded.cc (after tokio's benches/rt_multi_threaded.rs),
// with plain lambdas as tasks. bench/compare runs it beside tidepool and the
// tokio and oneTBB peers; flags and output are those of
// bench/peer_harness.h.
//
// What Asio cannot express the same way, and how it is written instead:
//  - no join handles: every case counts its tasks down and the last one
//    wakes the main thread (tokio's own benchmarks do the same);
//  - no coroutine suspension: a yield re-posts the task's next step (to the
//    back of the pool's queue), and ping_pong's "A awaits the pong" is B
//    posting A's continuation;
//  - no blocking pool and no channels: spawn_blocking and mpsc are left
//    out.
// A post from a pool thread goes to the pool's shared queue (one mutex),
// which is what asio::post does for a handler that is not a continuation.

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
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

void SpawnManyLocal(const PeerOptions& opts) {
  constexpr std::string_view kName = "spawn_many_local";
  if (!opts.Selected(kName)) return;
  boost::asio::thread_pool pool(opts.workers);
  Countdown done;
  Measure(opts, kName, [&] {
    done.Arm(kNumSpawn);
    // The spawns come from a task on a pool thread, as in the other peers.
    boost::asio::post(pool, [&] {
      for (int i = 0; i < kNumSpawn; ++i) {
        boost::asio::post(pool, [&done] { done.CountDown(); });
      }
    });
    CheckResult(kName, done.Wait(), 0);
  });
}

void SpawnManyRemoteIdle(const PeerOptions& opts) {
  constexpr std::string_view kName = "spawn_many_remote_idle";
  if (!opts.Selected(kName)) return;
  boost::asio::thread_pool pool(opts.workers);
  Countdown done;
  Measure(opts, kName, [&] {
    done.Arm(kNumSpawn);
    for (int i = 0; i < kNumSpawn; ++i) {
      boost::asio::post(pool, [&done] { done.CountDown(); });
    }
    CheckResult(kName, done.Wait(), 0);
  });
}

// One yielding task: each step re-posts the next until kNumYield yields.
struct Yielder {
  boost::asio::thread_pool* pool;
  Countdown* done;
  int left;

  void operator()() {
    if (left == 0) {
      done->CountDown();
      return;
    }
    boost::asio::post(*pool, Yielder{pool, done, left - 1});
  }
};

void YieldMany(const PeerOptions& opts) {
  constexpr std::string_view kName = "yield_many";
  if (!opts.Selected(kName)) return;
  boost::asio::thread_pool pool(opts.workers);
  Countdown done;
  Measure(opts, kName, [&] {
    done.Arm(kYieldTasks);
    for (int i = 0; i < kYieldTasks; ++i) {
      boost::asio::post(pool, Yielder{&pool, &done, kNumYield});
    }
    CheckResult(kName, done.Wait(), 0);
  });
}

// A round: A posts B with the ping; B posts A's continuation with the pong;
// A's continuation checks it and counts down.
void PingPong(const PeerOptions& opts) {
  constexpr std::string_view kName = "ping_pong";
  if (!opts.Selected(kName)) return;
  boost::asio::thread_pool pool(opts.workers);
  Countdown done;
  Measure(opts, kName, [&] {
    done.Arm(kNumPings);
    boost::asio::post(pool, [&] {
      for (int i = 0; i < kNumPings; ++i) {
        boost::asio::post(pool, [&pool, &done, ping = int64_t{i}] {
          boost::asio::post(pool, [&pool, &done, ping] {
            boost::asio::post(pool, [&done, ping, pong = ping + 1] {
              if (pong == ping + 1) done.CountDown();
            });
          });
        });
      }
    });
    CheckResult(kName, done.Wait(), 0);
  });
}

// Each link posts the next and returns; the last one wakes the main thread.
struct Link {
  boost::asio::thread_pool* pool;
  Countdown* done;
  int n;

  void operator()() const {
    if (n == 0) {
      done->CountDown();
      return;
    }
    boost::asio::post(*pool, Link{pool, done, n - 1});
  }
};

void ChainedSpawn(const PeerOptions& opts) {
  constexpr std::string_view kName = "chained_spawn";
  if (!opts.Selected(kName)) return;
  boost::asio::thread_pool pool(opts.workers);
  Countdown done;
  Measure(opts, kName, [&] {
    done.Arm(1);
    boost::asio::post(pool, Link{&pool, &done, kChain});
    CheckResult(kName, done.Wait(), 0);
  });
}

}  // namespace

int main(int argc, char** argv) {
  const PeerOptions opts = tidepool::bench::ParsePeerOptions(argc, argv);
  SpawnManyLocal(opts);
  SpawnManyRemoteIdle(opts);
  YieldMany(opts);
  PingPong(opts);
  ChainedSpawn(opts);
  return 0;
}
