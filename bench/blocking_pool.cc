// The blocking pool under two workloads. The tokio 1.24 peer in
// bench/peers/tokio_blocking runs the same steps and prints the same rows;
// bench/compare_blocking.sh runs both and puts them side by side.
//
//   blocking_pool shrink KEEP_ALIVE_MS TRICKLE_S
//     A burst of 96 concurrent calls, then a trickle of one 1 ms call at a
//     time for TRICKLE_S seconds, with the process's thread count (and the
//     pool's own count) sampled every 100 ms. Issue 3 requires the pool to be
//     down to at most 2 threads within keep-alive + 1 s of the burst.
//
//   blocking_pool latency [REPETITIONS]
//     tokio's benches/spawn_blocking.rs: 1, 16 and 64 caller tasks, each
//     running 100 batches of 16 no-op calls spawned together and then
//     awaited.
//
// A plain driver rather than Google Benchmark, so that both peers run the
// exact same repetitions and print the same rows.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iterator>
#include <latch>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/runtime.h"

namespace {

using Clock = std::chrono::steady_clock;
using Seconds = std::chrono::duration<double>;

constexpr size_t kWorkers = 2;
constexpr size_t kMaxBlockingThreads = 512;

constexpr int kBurst = 96;
constexpr auto kSampleEvery = std::chrono::milliseconds(100);

constexpr int kCallers[] = {1, 16, 64};
constexpr int kNumBatches = 100;
constexpr int kBatchSize = 16;

long ThreadsInProcess() {
  std::error_code ec;
  std::filesystem::directory_iterator it("/proc/self/task", ec);
  if (ec) return 0;
  return std::distance(it, std::filesystem::directory_iterator());
}

long long Millis(Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

tidepool::Runtime BuildOrDie(const tidepool::Builder& builder) {
  absl::StatusOr<tidepool::Runtime> rt = builder.build();
  if (!rt.ok()) {
    std::fprintf(stderr, "blocking_pool: %s\n", rt.status().ToString().c_str());
    std::exit(1);
  }
  return *std::move(rt);
}

tidepool::Builder BaseBuilder() {
  return tidepool::Builder().worker_threads(kWorkers).max_blocking_threads(
      kMaxBlockingThreads);
}

// Each call waits for all the others, so the pool must really run kBurst
// threads at once.
tidepool::Task<Clock::time_point> Burst() {
  std::latch all_running(kBurst);
  std::vector<tidepool::JoinHandle<void>> hs;
  hs.reserve(kBurst);
  for (int i = 0; i < kBurst; ++i) {
    hs.push_back(tidepool::spawn_blocking(
        [&all_running] { all_running.arrive_and_wait(); }));
  }
  for (auto& h : hs) co_await h;
  co_return Clock::now();
}

tidepool::Task<int64_t> Trickle(Clock::duration length) {
  const Clock::time_point until = Clock::now() + length;
  int64_t calls = 0;
  while (Clock::now() < until) {
    co_await tidepool::spawn_blocking(
        [] { std::this_thread::sleep_for(std::chrono::milliseconds(1)); });
    ++calls;
  }
  co_return calls;
}

struct Sample {
  Clock::duration t;
  long threads;
  size_t pool_alive;
};

void Shrink(std::chrono::milliseconds keep_alive,
            std::chrono::seconds trickle) {
  tidepool::Runtime rt =
      BuildOrDie(BaseBuilder().thread_keep_alive(keep_alive));
  const Clock::time_point start = Clock::now();
  std::atomic<bool> done{false};
  std::vector<Sample> samples;
  // The burst waits for the first sample, so that it shows the process
  // before the burst: main thread, workers and the sampler itself, which is
  // a plain thread counted in every sample.
  std::latch first_sample(1);
  std::thread sampler([&] {
    for (Clock::time_point next = start; !done.load(std::memory_order_acquire);
         next += kSampleEvery) {
      samples.push_back({next - start, ThreadsInProcess(),
                         rt.metrics().blocking.threads_alive});
      if (samples.size() == 1) first_sample.count_down();
      std::this_thread::sleep_until(next + kSampleEvery);
    }
  });
  first_sample.wait();

  const Clock::time_point burst_end = rt.block_on(Burst());
  const int64_t trickle_calls = rt.block_on(Trickle(trickle));
  done.store(true, std::memory_order_release);
  sampler.join();

  std::printf("# pool=tidepool keep_alive_ms=%lld\n",
              static_cast<long long>(keep_alive.count()));
  std::printf("# baseline_threads=%ld\n", samples.front().threads);
  std::printf("# burst_end_ms=%lld\n", Millis(burst_end - start));
  std::printf("# trickle_calls=%lld\n", static_cast<long long>(trickle_calls));
  std::printf("time_ms,threads,pool_alive\n");
  for (const Sample& s : samples) {
    std::printf("%lld,%ld,%zu\n", Millis(s.t), s.threads, s.pool_alive);
  }
}

double Median(std::vector<double> xs) {
  std::sort(xs.begin(), xs.end());
  const size_t n = xs.size();
  return n % 2 == 1 ? xs[n / 2] : (xs[n / 2 - 1] + xs[n / 2]) / 2;
}

// Handles are awaited in order: tidepool has no JoinSet, and the peer does
// the same. Returns every batch's round trip in seconds.
tidepool::Task<std::vector<double>> Caller() {
  std::vector<double> batch_times;
  batch_times.reserve(kNumBatches);
  std::vector<tidepool::JoinHandle<int>> batch;
  batch.reserve(kBatchSize);
  for (int b = 0; b < kNumBatches; ++b) {
    const Clock::time_point t0 = Clock::now();
    for (int i = 0; i < kBatchSize; ++i) {
      batch.push_back(tidepool::spawn_blocking([] { return 0; }));
    }
    for (auto& h : batch) co_await h;
    batch.clear();
    batch_times.push_back(Seconds(Clock::now() - t0).count());
  }
  co_return batch_times;
}

tidepool::Task<std::vector<double>> Callers(int c) {
  std::vector<tidepool::JoinHandle<std::vector<double>>> tasks;
  tasks.reserve(c);
  for (int i = 0; i < c; ++i) tasks.push_back(tidepool::spawn(Caller()));
  std::vector<double> all;
  all.reserve(static_cast<size_t>(c) * kNumBatches);
  for (auto& t : tasks) {
    std::vector<double> batch_times = co_await t;
    all.insert(all.end(), batch_times.begin(), batch_times.end());
  }
  co_return all;
}

void PrintRow(int c, const std::string& rep, double total, double batch_p50) {
  const double calls = static_cast<double>(c) * kNumBatches * kBatchSize;
  std::printf("%d,%s,%.3f,%.0f,%.3f,%.1f,%ld\n", c, rep.c_str(), total * 1e3,
              calls / total, total * 1e6 / calls, batch_p50 * 1e6,
              ThreadsInProcess());
}

void Latency(int repetitions) {
  std::printf("c,rep,total_ms,calls_per_s,us_per_call,batch_p50_us,threads\n");
  for (int c : kCallers) {
    // One runtime per level, warmed up once so thread start-up is not timed
    // (as in criterion's warm-up); the default keep-alive (10 s) keeps the
    // warm threads for the measured repetitions.
    tidepool::Runtime rt = BuildOrDie(BaseBuilder());
    rt.block_on(Callers(c));
    std::vector<double> totals;
    std::vector<double> batch_p50s;
    for (int rep = 1; rep <= repetitions; ++rep) {
      const Clock::time_point t0 = Clock::now();
      std::vector<double> batches = rt.block_on(Callers(c));
      const double total = Seconds(Clock::now() - t0).count();
      const double p50 = Median(std::move(batches));
      PrintRow(c, std::to_string(rep), total, p50);
      totals.push_back(total);
      batch_p50s.push_back(p50);
    }
    PrintRow(c, "median", Median(totals), Median(batch_p50s));
  }
}

[[noreturn]] void Usage() {
  std::fprintf(stderr,
               "usage: blocking_pool shrink KEEP_ALIVE_MS TRICKLE_S\n"
               "       blocking_pool latency [REPETITIONS]\n");
  std::exit(2);
}

// A positive integer argument, or Usage().
long PositiveArg(int argc, char** argv, int i, long fallback) {
  if (i >= argc) {
    if (fallback > 0) return fallback;
    Usage();
  }
  char* end = nullptr;
  const long v = std::strtol(argv[i], &end, 10);
  if (end == argv[i] || *end != '\0' || v <= 0) Usage();
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "shrink") {
    Shrink(std::chrono::milliseconds(PositiveArg(argc, argv, 2, 0)),
           std::chrono::seconds(PositiveArg(argc, argv, 3, 0)));
  } else if (mode == "latency") {
    Latency(static_cast<int>(PositiveArg(argc, argv, 2, 10)));
  } else {
    Usage();
  }
  return 0;
}
