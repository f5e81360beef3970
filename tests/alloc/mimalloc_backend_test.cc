// The mimalloc backend against a recording stand-in for mimalloc's API:
// which options each policy sets, that invalid settings are refused with
// the setting named, what idle threads and trims ask of mimalloc, and that
// concurrent trims share one zero-delay window. (tests/alloc/
// malloc_override_test checks against the real library that the pages come
// back.)
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "alloc/internal/mimalloc_api.h"
#include "alloc/policy.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tidepool::alloc::internal {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// What the stand-in was asked, one string per call, per thread (each test
// thread has its own heaps, as under mimalloc).
thread_local std::vector<std::string>* tls_log = nullptr;
std::mutex options_mu;
std::vector<std::string> options_log;  // guarded by options_mu
// The decommit delay as the stand-in holds it. relaxed: a test value, read
// by a collect that the backend's own lock orders after the set.
std::atomic<long> current_delay{-5};
std::atomic<int> collects_with_delay{0};

struct FakeHeapTag {};
// Heaps are distinct addresses; thread-local, so each thread's heaps are
// its own.
thread_local FakeHeapTag tls_heaps[1 << 12];
thread_local int tls_next_heap = 1;  // 0 is the backing heap
thread_local mi_heap_t* tls_default = nullptr;

mi_heap_t* HeapAt(int i) { return reinterpret_cast<mi_heap_t*>(&tls_heaps[i]); }

std::string Name(mi_heap_t* heap) {
  const auto* tag = reinterpret_cast<FakeHeapTag*>(heap);
  if (tag < tls_heaps || tag >= tls_heaps + (1 << 12)) return "foreign";
  return "heap" + std::to_string(tag - tls_heaps);
}

void Log(std::string s) {
  if (tls_log != nullptr) tls_log->push_back(std::move(s));
}

mi_heap_t* FakeHeapNew() noexcept {
  mi_heap_t* h = HeapAt(tls_next_heap++ % (1 << 12));
  Log("heap_new -> " + Name(h));
  return h;
}
mi_heap_t* FakeSetDefault(mi_heap_t* heap) noexcept {
  Log("set_default " + Name(heap));
  mi_heap_t* old = tls_default;
  tls_default = heap;
  return old;
}
mi_heap_t* FakeGetBacking() noexcept { return HeapAt(0); }
void FakeHeapDelete(mi_heap_t* heap) noexcept {
  Log("heap_delete " + Name(heap));
  if (heap == tls_default) Log("ERROR: deleted the default heap");
}
void FakeCollect(bool force) noexcept {
  if (current_delay.load(std::memory_order_relaxed) != 0) {
    collects_with_delay.fetch_add(1, std::memory_order_relaxed);
  }
  Log(force ? "collect(true)" : "collect(false)");
}
void FakeOptionSet(mi_option_t option, long value) noexcept {
  std::string s = "option " + std::to_string(static_cast<int>(option)) + "=" +
                  std::to_string(value);
  Log(s);
  if (option == mi_option_decommit_delay) {
    current_delay.store(value, std::memory_order_relaxed);
  }
  std::lock_guard<std::mutex> lock(options_mu);
  options_log.push_back(s);
}
long FakeOptionGet(mi_option_t option) noexcept {
  return option == mi_option_decommit_delay
             ? current_delay.load(std::memory_order_relaxed)
             : 0;
}
void FakeProcessInfo(size_t* elapsed, size_t* user, size_t* sys, size_t* rss,
                     size_t* peak_rss, size_t* commit, size_t* peak_commit,
                     size_t* faults) noexcept {
  *elapsed = *user = *sys = *rss = *peak_rss = *commit = *peak_commit =
      *faults = 0;
}

// The idle sweep's blocks (SweepFreeSpans), counted rather than logged:
// a sweep takes hundreds. Per thread, as the log.
thread_local int tls_mallocs = 0;
thread_local int tls_frees = 0;
thread_local int tls_mallocs_with_delay = 0;
void* FakeMalloc(size_t size) noexcept {
  ++tls_mallocs;
  if (current_delay.load(std::memory_order_relaxed) != 0) {
    ++tls_mallocs_with_delay;
  }
  return std::malloc(size);
}
void FakeFree(void* p) noexcept {
  ++tls_frees;
  std::free(p);
}

MimallocApi FakeApi() {
  MimallocApi api;
  api.heap_new = &FakeHeapNew;
  api.heap_set_default = &FakeSetDefault;
  api.heap_get_backing = &FakeGetBacking;
  api.heap_delete = &FakeHeapDelete;
  api.collect = &FakeCollect;
  api.option_set = &FakeOptionSet;
  api.option_get = &FakeOptionGet;
  api.process_info = &FakeProcessInfo;
  api.malloc = &FakeMalloc;
  api.free = &FakeFree;
  return api;
}

std::string Option(mi_option_t option, long value) {
  return "option " + std::to_string(static_cast<int>(option)) + "=" +
         std::to_string(value);
}

// Runs `body` on a fresh thread (fresh heaps) and returns its log.
template <typename F>
std::vector<std::string> OnThread(F body) {
  std::vector<std::string> log;
  std::thread([&] {
    tls_log = &log;
    body();
    tls_log = nullptr;
  }).join();
  return log;
}

TEST(MimallocBackendTest, DefaultPolicyDelaysDecommitsWhileBusyOnly) {
  auto backend = MakeMimallocBackend(FakeApi());
  const auto log = OnThread([&] {
    ASSERT_TRUE(backend->Configure(DefaultPolicy()).ok());
    backend->BindThread(ThreadRole::kWorker);
    backend->ThreadIdle(ThreadRole::kWorker);
    backend->Trim();
  });
  // mimalloc's own 25 ms while threads work; an idle worker and a trim
  // collect with the delay lifted, so what they free goes back at once.
  EXPECT_THAT(log,
              ElementsAre(Option(mi_option_decommit_delay, 25),
                          Option(mi_option_abandoned_page_decommit, 1),
                          "heap_new -> heap1", "set_default heap1",
                          Option(mi_option_decommit_delay, 0), "collect(true)",
                          Option(mi_option_decommit_delay, 25),
                          Option(mi_option_decommit_delay, 0), "collect(true)",
                          Option(mi_option_decommit_delay, 25)));
}

Policy Delayed(long ms) {
  Policy p = DefaultPolicy();
  p.mimalloc_decommit_delay_ms = ms;
  return p;
}

TEST(MimallocBackendTest, NoPolicyLeavesMimallocAsConfigured) {
  auto backend = MakeMimallocBackend(FakeApi());
  const auto log = OnThread([&] {
    ASSERT_TRUE(backend->Configure(NoPolicy()).ok());
    backend->BindThread(ThreadRole::kWorker);
    backend->Trim();
  });
  EXPECT_THAT(log, ElementsAre("collect(true)"));
}

TEST(MimallocBackendTest, RejectsANegativeDelayNamingTheSetting) {
  auto backend = MakeMimallocBackend(FakeApi());
  Policy p = DefaultPolicy();
  p.mimalloc_decommit_delay_ms = -2;
  absl::Status st;
  const auto log = OnThread([&] { st = backend->Configure(p); });
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(),
              HasSubstr("mimalloc_decommit_delay_ms=-2 is out of range: "
                        "accepted values are -1 (mimalloc's default) or 0 "
                        "and above"));
  EXPECT_TRUE(log.empty()) << "a refused policy must change nothing";
  p.mimalloc_decommit_delay_ms = -1;
  const auto kept = OnThread([&] { st = backend->Configure(p); });
  EXPECT_TRUE(st.ok()) << st;
  EXPECT_THAT(kept, ElementsAre(Option(mi_option_abandoned_page_decommit, 1)));
}

TEST(MimallocBackendTest, MissingFunctionFailsThePrecondition) {
  MimallocApi api = FakeApi();
  api.option_get = nullptr;
  auto backend = MakeMimallocBackend(api);
  const absl::Status st = backend->Configure(DefaultPolicy());
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(st.message(), HasSubstr("mi_* functions are not reachable"));
}

TEST(MimallocBackendTest, IdleWorkerCollectsWithTheDelayAtZero) {
  auto backend = MakeMimallocBackend(FakeApi());
  ASSERT_TRUE(backend->Configure(Delayed(25)).ok());
  const auto log = OnThread([&] {
    backend->BindThread(ThreadRole::kWorker);
    backend->ThreadIdle(ThreadRole::kWorker);
  });
  // What the collect frees is decommitted at once, and the busy delay is
  // back for the threads that work.
  EXPECT_THAT(log,
              ElementsAre("heap_new -> heap1", "set_default heap1",
                          Option(mi_option_decommit_delay, 0), "collect(true)",
                          Option(mi_option_decommit_delay, 25)));
  Policy off = Delayed(25);
  off.mimalloc_release_on_idle = false;
  ASSERT_TRUE(backend->Configure(off).ok());
  const auto plain =
      OnThread([&] { backend->ThreadIdle(ThreadRole::kWorker); });
  EXPECT_THAT(plain, ElementsAre("collect(true)"));
}

struct Sweep {
  int mallocs = 0;
  int frees = 0;
  int mallocs_with_delay = 0;
};

// Runs `body` on a fresh thread and returns the blocks it took.
template <typename F>
Sweep SweepOnThread(F body) {
  Sweep s;
  std::thread([&] {
    tls_mallocs = tls_frees = tls_mallocs_with_delay = 0;
    body();
    s = {tls_mallocs, tls_frees, tls_mallocs_with_delay};
  }).join();
  return s;
}

TEST(MimallocBackendTest, IdleWorkerSweepsItsFreeSpansInTheZeroDelayWindow) {
  auto backend = MakeMimallocBackend(FakeApi());
  ASSERT_TRUE(backend->Configure(Delayed(25)).ok());
  const Sweep idle = SweepOnThread([&] {
    backend->BindThread(ThreadRole::kWorker);
    backend->ThreadIdle(ThreadRole::kWorker);
  });
  // 64 MiB of spans, three 64 KiB slices each, all given back.
  EXPECT_EQ(idle.mallocs, (64 << 20) / (192 << 10));
  EXPECT_EQ(idle.frees, idle.mallocs);
  EXPECT_EQ(idle.mallocs_with_delay, 0) << "swept outside the window";
  // Not in a trim, not on a blocking thread, not without a delay.
  const Sweep trim = SweepOnThread([&] { backend->Trim(); });
  EXPECT_EQ(trim.mallocs, 0);
  const Sweep blocking =
      SweepOnThread([&] { backend->ThreadIdle(ThreadRole::kBlocking); });
  EXPECT_EQ(blocking.mallocs, 0);
  ASSERT_TRUE(backend->Configure(Delayed(0)).ok());
  const Sweep no_delay =
      SweepOnThread([&] { backend->ThreadIdle(ThreadRole::kWorker); });
  EXPECT_EQ(no_delay.mallocs, 0);
}

TEST(MimallocBackendTest, SleepingBlockingThreadOnlyCollects) {
  auto backend = MakeMimallocBackend(FakeApi());
  ASSERT_TRUE(backend->Configure(Delayed(25)).ok());
  const auto log = OnThread([&] {
    backend->BindThread(ThreadRole::kBlocking);
    backend->ThreadIdle(ThreadRole::kBlocking);
  });
  EXPECT_THAT(log, ElementsAre("heap_new -> heap1", "set_default heap1",
                               "collect(false)"));
}

TEST(MimallocBackendTest, TrimCollectsWithTheDelayAtZeroThenRestoresIt) {
  auto backend = MakeMimallocBackend(FakeApi());
  ASSERT_TRUE(backend->Configure(Delayed(25)).ok());
  const auto log = OnThread([&] { backend->Trim(); });
  EXPECT_THAT(log,
              ElementsAre(Option(mi_option_decommit_delay, 0), "collect(true)",
                          Option(mi_option_decommit_delay, 25)));
  // No window when there is no delay to lift.
  ASSERT_TRUE(backend->Configure(Delayed(0)).ok());
  const auto plain = OnThread([&] { backend->Trim(); });
  EXPECT_THAT(plain, ElementsAre("collect(true)"));
}

TEST(MimallocBackendTest, ConcurrentTrimsShareOneZeroDelayWindow) {
  auto backend = MakeMimallocBackend(FakeApi());
  ASSERT_TRUE(backend->Configure(Delayed(40)).ok());
  collects_with_delay.store(0);
  constexpr int kThreads = 8;
  constexpr int kRounds = 5000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kRounds; ++i) backend->Trim();
    });
  }
  for (auto& t : threads) t.join();
  // No trim's collect ran after another trim restored the busy delay, and
  // the last one out restored it.
  EXPECT_EQ(collects_with_delay.load(), 0);
  EXPECT_EQ(current_delay.load(), 40);
}

}  // namespace
}  // namespace tidepool::alloc::internal
