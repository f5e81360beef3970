// //alloc:malloc_override: each backend, chosen by TIDEPOOL_ALLOCATOR in a
// child process, really serves malloc and operator new; bad settings fail
// before main with one clear line; runtime threads are bound; trim gives
// memory back; 10,000,000 mixed operations across 16 threads survive.
#include <dlfcn.h>
#include <malloc.h>
#include <mimalloc.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "alloc/alloc.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/runtime.h"
#include "tests/alloc/child_process.h"

namespace tidepool {
namespace {

using ::testing::HasSubstr;
using testing::RunChild;

using MallctlFn = int (*)(const char*, void*, size_t*, void*, size_t);

MallctlFn Mallctl() {
  return reinterpret_cast<MallctlFn>(dlsym(RTLD_DEFAULT, "mallctl"));
}

// mimalloc's API by name: the override loads libmimalloc only when it is
// chosen, so a child that runs another backend has none of it.
template <typename Fn>
Fn Mimalloc(const char* name) {
  return reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, name));
}

bool InMimallocHeap(const void* p) {
  auto in_heap = Mimalloc<bool (*)(const void*)>("mi_is_in_heap_region");
  return in_heap != nullptr && in_heap(p);
}

// Whether libmimalloc is mapped into this process.
bool MimallocMapped() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    if (line.find("libmimalloc") != std::string::npos) return true;
  }
  return false;
}

int64_t JemallocAllocated() {
  uint64_t epoch = 1;
  size_t len = sizeof epoch;
  Mallctl()("epoch", &epoch, &len, &epoch, len);
  size_t allocated = 0;
  len = sizeof allocated;
  Mallctl()("stats.allocated", &allocated, &len, nullptr, 0);
  return static_cast<int64_t>(allocated);
}

int64_t GlibcInUse() {
  const struct mallinfo2 mi = mallinfo2();
  return static_cast<int64_t>(mi.uordblks + mi.hblkhd);
}

// The backend's own count of what the program holds, where it keeps one.
int64_t InUse(alloc::Backend b) {
  return b == alloc::Backend::kJemalloc ? JemallocAllocated() : GlibcInUse();
}

// ---- child modes ----------------------------------------------------------

int ChildReport() {
  const alloc::BackendSpec spec = alloc::active_backend();
  std::printf("backend=%s arena_max=%d mimalloc_mapped=%d\n",
              alloc::BackendName(spec.kind), spec.arena_max,
              MimallocMapped() ? 1 : 0);
  // The runtime's knobs from the same file, read after main began.
  auto builder = Builder::from_env();
  if (!builder.ok()) {
    std::printf("from_env: %s\n", builder.status().ToString().c_str());
    return 0;
  }
  auto rt = builder->build();
  if (rt.ok()) {
    const RuntimeMetrics m = rt->metrics();
    std::printf("workers=%zu memory_budget=%zu\n", m.workers,
                m.blocking.budget.budget);
  }
  return 0;
}

// alloc::InUseBytes() counts a large block while it lives, and a runtime
// with a memory budget builds and samples it.
int ChildInUse() {
  constexpr int64_t kSize = 64 << 20;
  const alloc::Backend b = alloc::active_backend().kind;
  const int64_t before = alloc::InUseBytes();
  char* p = static_cast<char*>(malloc(kSize));
  std::memset(p, 1, kSize);
  // Keeps clang from eliding the malloc, memset and free altogether.
  asm volatile("" : : "g"(p) : "memory");
  const int64_t during = alloc::InUseBytes();
  free(p);
  const int64_t after = alloc::InUseBytes();
  if (before < 0 || during - before < kSize) {
    std::printf("in use %lld before, %lld with a 64 MiB block\n",
                static_cast<long long>(before), static_cast<long long>(during));
    return 1;
  }
  // A program that has done nothing yet is far below a small budget. (For
  // mimalloc its committed count is not: it commits segments whole.)
  if (before > (16 << 20)) {
    std::printf("in use %lld at start\n", static_cast<long long>(before));
    return 1;
  }
  // mimalloc counts resident pages, which it may keep after the free until
  // its decommit delay expires. jemalloc hands a block this large back at
  // once from a thread on its automatic arenas, as this one is (it is over
  // opt.oversize_threshold).
  if (b != alloc::Backend::kMimalloc && during - after < kSize) {
    std::printf("in use %lld with the block, %lld after its free\n",
                static_cast<long long>(during), static_cast<long long>(after));
    return 1;
  }
  // jemalloc counts the dirty pages it keeps after a free until they are
  // purged: they stay resident.
  if (b == alloc::Backend::kJemalloc) {
    constexpr int kPieces = 8;
    constexpr int64_t kPiece = 1 << 20;
    const int64_t start = alloc::InUseBytes();
    char* pieces[kPieces];
    for (char*& piece : pieces) {
      piece = static_cast<char*>(malloc(kPiece));
      std::memset(piece, 1, kPiece);
      asm volatile("" : : "g"(piece) : "memory");
    }
    for (char* piece : pieces) free(piece);
    const int64_t freed = alloc::InUseBytes();
    alloc::trim();
    const int64_t purged = alloc::InUseBytes();
    if (freed - start < kPieces * kPiece / 2 ||
        freed - purged < kPieces * kPiece / 2) {
      std::printf("in use %lld, %lld after 8 MiB freed, %lld after a trim\n",
                  static_cast<long long>(start), static_cast<long long>(freed),
                  static_cast<long long>(purged));
      return 1;
    }
  }
  auto rt = Builder().worker_threads(1).memory_budget(24 << 20).build();
  if (!rt.ok() || rt->metrics().blocking.budget.in_use <= 0) {
    std::printf("budgeted runtime: %s\n", rt.status().ToString().c_str());
    return 1;
  }
  return 0;
}

// Checks that one allocation of `size` bytes made by `make` belongs to the
// active backend, then releases it with `release`.
template <typename Make, typename Release>
bool Served(const char* what, size_t size, Make make, Release release) {
  const alloc::Backend b = alloc::active_backend().kind;
  const int64_t before = b == alloc::Backend::kMimalloc ? 0 : InUse(b);
  void* p = make(size);
  std::memset(p, 1, size);
  bool ok;
  if (b == alloc::Backend::kMimalloc) {
    ok = InMimallocHeap(p);
  } else {
    // Not mimalloc's, and counted by the backend's own statistics.
    ok = !InMimallocHeap(p) && InUse(b) - before >= static_cast<int64_t>(size);
  }
  release(p);
  if (!ok) std::printf("%s is not served by %s\n", what, alloc::BackendName(b));
  return ok;
}

int ChildServes() {
  constexpr size_t kSize = 8 << 20;
  bool ok = true;
  ok &= Served(
      "malloc", kSize, [](size_t n) { return malloc(n); }, free);
  ok &= Served(
      "calloc", kSize, [](size_t n) { return calloc(1, n); }, free);
  ok &= Served(
      "realloc", kSize, [](size_t n) { return realloc(malloc(16), n); }, free);
  ok &= Served(
      "memalign", kSize, [](size_t n) { return memalign(64, n); }, free);
  ok &= Served(
      "aligned_alloc", kSize, [](size_t n) { return aligned_alloc(4096, n); },
      free);
  ok &= Served(
      "posix_memalign", kSize,
      [](size_t n) {
        void* p = nullptr;
        return posix_memalign(&p, 128, n) == 0 ? p : nullptr;
      },
      free);
  ok &= Served(
      "operator new[]", kSize, [](size_t n) -> void* { return new char[n]; },
      [](void* p) { delete[] static_cast<char*>(p); });
  ok &= Served(
      "aligned operator new", kSize,
      [](size_t n) { return ::operator new (n, std::align_val_t{256}); },
      [](void* p) { ::operator delete (p, std::align_val_t{256}); });
  std::string text(kSize, 'x');  // std::string goes through operator new
  ok &= malloc_usable_size(text.data()) >= kSize;
  return ok ? 0 : 1;
}

// Every runtime thread gets the binding of its role.
int ChildBind() {
  const alloc::Backend b = alloc::active_backend().kind;
  auto rt = Builder().worker_threads(2).build();
  if (!rt.ok()) return 3;
  // jemalloc: the thread's arena index; mimalloc: whether the default heap
  // is the thread's own rather than its backing heap.
  auto probe = [b]() -> long {
    if (b == alloc::Backend::kJemalloc) {
      unsigned arena = 0;
      size_t len = sizeof arena;
      Mallctl()("thread.arena", &arena, &len, nullptr, 0);
      return arena;
    }
    if (b == alloc::Backend::kMimalloc) {
      using HeapFn = void* (*)();
      return Mimalloc<HeapFn>("mi_heap_get_default")() !=
                     Mimalloc<HeapFn>("mi_heap_get_backing")()
                 ? 1
                 : 0;
    }
    return 0;
  };
  std::mutex mu;
  std::set<long> worker_values;
  auto on_worker = [&]() -> Task<void> {
    std::lock_guard<std::mutex> lock(mu);
    worker_values.insert(probe());
    co_return;
  };
  // Spawn until tasks have run on both workers (or give up after 10 s,
  // which the checks below then report).
  auto root = [&]() -> Task<long> {
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      std::vector<JoinHandle<void>> hs;
      for (int i = 0; i < 200; ++i) hs.push_back(spawn(on_worker()));
      for (auto& h : hs) co_await h;
      std::lock_guard<std::mutex> lock(mu);
      if (b != alloc::Backend::kJemalloc || worker_values.size() >= 2) break;
    }
    co_return co_await spawn_blocking(probe);
  };
  const long blocking_value = rt->block_on(root());
  const long main_value = probe();
  if (b == alloc::Backend::kJemalloc) {
    // Two workers, two arenas of their own; the blocking thread on a shared
    // one; none of them the main thread's.
    if (worker_values.size() != 2 || worker_values.count(main_value) ||
        worker_values.count(blocking_value) || blocking_value == main_value) {
      std::printf("jemalloc arenas: main %ld, blocking %ld, workers %zu\n",
                  main_value, blocking_value, worker_values.size());
      return 1;
    }
  }
  if (b == alloc::Backend::kMimalloc) {
    if (worker_values != std::set<long>{1} || blocking_value != 1 ||
        main_value != 0) {
      std::printf("mimalloc heaps not per thread\n");
      return 1;
    }
  }
  return 0;
}

// Frees most of 200 MB of small blocks, leaving a block every 1 MiB so
// nothing is at the top of a heap; trim must give the rest back.
// Allocates 200 MiB of small blocks and frees all but one in 1024 of them,
// so that almost every page is empty but few are wholly free of live
// blocks; returns the resident bytes at the peak and the blocks kept.
int64_t FragmentHeap(std::vector<char*>& kept) {
  std::vector<char*> blocks;
  for (int i = 0; i < 200 * 1024; ++i) {
    char* p = static_cast<char*>(malloc(1000));
    std::memset(p, 7, 1000);
    blocks.push_back(p);
  }
  const int64_t peak = alloc::ResidentBytes();
  for (size_t i = 0; i < blocks.size(); ++i) {
    if (i % 1024 == 0) {
      kept.push_back(blocks[i]);
    } else {
      free(blocks[i]);
    }
  }
  return peak;
}

int TrimAfter(int64_t start, int64_t peak, std::vector<char*>& kept) {
  const alloc::TrimResult r = alloc::trim();
  std::printf("start %lld peak %lld before %lld after %lld\n",
              static_cast<long long>(start), static_cast<long long>(peak),
              static_cast<long long>(r.resident_before),
              static_cast<long long>(r.resident_after));
  for (char* p : kept) free(p);
  const bool grew = peak - start > (150 << 20);
  const bool returned = r.resident_after - start < (40 << 20);
  return grew && returned ? 0 : 1;
}

// mimalloc's decommit delay: the default policy's 25 ms, at most
// Builder::kBudgetMimallocDelayMs under a memory budget (whose count there
// is resident pages), and a shorter one a policy asks for stays.
int ChildBudgetDelay() {
  if (alloc::active_backend().kind != alloc::Backend::kMimalloc) return 0;
  auto get = Mimalloc<long (*)(mi_option_t)>("mi_option_get");
  if (get == nullptr) return 2;
  const mi_option_t kDelayOption = mi_option_decommit_delay;
  {
    auto rt = Builder().worker_threads(1).build();
    if (!rt.ok() || get(kDelayOption) != 25) {
      std::printf("default delay %ld\n", get(kDelayOption));
      return 3;
    }
  }
  {
    auto rt = Builder().worker_threads(1).memory_budget(64 << 20).build();
    if (!rt.ok() || get(kDelayOption) != Builder::kBudgetMimallocDelayMs) {
      std::printf("delay under a budget %ld\n", get(kDelayOption));
      return 4;
    }
  }
  alloc::Policy zero = alloc::DefaultPolicy();
  zero.mimalloc_decommit_delay_ms = 0;
  auto rt = Builder()
                .worker_threads(1)
                .process_allocator(zero)
                .memory_budget(64 << 20)
                .build();
  if (!rt.ok() || get(kDelayOption) != 0) {
    std::printf("a zero delay under a budget became %ld\n", get(kDelayOption));
    return 5;
  }
  return 0;
}

// The freeing thread is still running when trim() is called.
int ChildTrim() {
  alloc::Policy policy = alloc::DefaultPolicy();
  // mimalloc 2.0.9 decommits what a thread freed under a decommit delay
  // (the default's 25 ms) only at that thread's next page allocation in
  // the same segment, or when the thread ends, and no collect forces it
  // (docs/allocators.md, "Known limits"): a running thread's trim returns
  // memory at once only without a delay. ChildTrimAfterThreadEnds covers
  // the default.
  if (alloc::active_backend().kind == alloc::Backend::kMimalloc) {
    policy.mimalloc_decommit_delay_ms = 0;
  }
  if (!alloc::Configure(policy).ok()) return 3;
  const int64_t start = alloc::ResidentBytes();
  std::vector<char*> kept;
  const int64_t peak = FragmentHeap(kept);
  return TrimAfter(start, peak, kept);
}

// The default policy, with the fragmenting thread ended before trim(), as
// a blocking thread past its keep-alive is.
int ChildTrimAfterThreadEnds() {
  if (!alloc::Configure(alloc::DefaultPolicy()).ok()) return 3;
  const int64_t start = alloc::ResidentBytes();
  std::vector<char*> kept;
  int64_t peak = 0;
  std::thread([&] {
    alloc::BindThread(alloc::ThreadRole::kBlocking);
    peak = FragmentHeap(kept);
    alloc::ThreadExit(alloc::ThreadRole::kBlocking);
  }).join();
  return TrimAfter(start, peak, kept);
}

// jemalloc: a blocking thread that goes to sleep idle flushes its thread
// cache (trim.on_blocking_idle), so the small blocks its call freed go back
// to its arena; with the trigger off they stay cached.
int ChildIdleFlush() {
  if (alloc::active_backend().kind != alloc::Backend::kJemalloc) return 0;
  auto cached_after_call = [](bool on_blocking_idle) -> long {
    alloc::Policy policy = alloc::DefaultPolicy();
    policy.trim.on_blocking_idle = on_blocking_idle;
    auto rt = Builder().worker_threads(1).process_allocator(policy).build();
    if (!rt.ok()) return -1;
    auto call = [] {
      std::vector<void*> blocks;
      for (int i = 0; i < 100; ++i) blocks.push_back(malloc(64));
      for (void* p : blocks) free(p);
      unsigned arena = 0;
      size_t len = sizeof arena;
      Mallctl()("thread.arena", &arena, &len, nullptr, 0);
      return arena;
    };
    const unsigned arena = rt->block_on(
        [&]() -> Task<unsigned> { co_return co_await spawn_blocking(call); }());
    // Long past the thread's spin (50 us): it sleeps, flushing first.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    uint64_t epoch = 1;
    size_t len = sizeof epoch;
    Mallctl()("epoch", &epoch, &len, &epoch, len);
    size_t bytes = 0;
    len = sizeof bytes;
    const std::string name =
        "stats.arenas." + std::to_string(arena) + ".tcache_bytes";
    if (Mallctl()(name.c_str(), &bytes, &len, nullptr, 0) != 0) return -2;
    return static_cast<long>(bytes);
  };
  const long flushed = cached_after_call(true);
  const long kept = cached_after_call(false);
  std::printf("tcache bytes after the call: flushed %ld, kept %ld\n", flushed,
              kept);
  return flushed == 0 && kept >= 100 * 64 ? 0 : 1;
}

// With a decommit delay, a runtime's worker collects on its own once the
// runtime has been idle for trim.runtime_idle, with the delay lifted: 20 MB
// freed by a task on it under a decommit delay goes back without anyone
// calling alloc::trim(). With `pinned`, a block that stays allocated until
// after the check follows each freed one, so the freed spans neither merge
// nor leave their segment empty, as between a server's long-lived blocks:
// on mimalloc only the idle worker's sweep of its segments returns them.
int RuntimeIdleRelease(bool pinned) {
  if (alloc::active_backend().kind != alloc::Backend::kMimalloc) return 0;
  alloc::Policy policy = alloc::DefaultPolicy();
  policy.mimalloc_decommit_delay_ms = 25;
  policy.trim.runtime_idle = std::chrono::milliseconds(100);
  auto rt = Builder().worker_threads(2).process_allocator(policy).build();
  if (!rt.ok()) return 3;
  const int64_t start = alloc::ResidentBytes();
  // Each worker churns once, so that both hold delayed pages: only the
  // last to park trims the process, and only a worker can collect its own
  // heap.
  std::mutex mu;
  std::set<std::thread::id> churned;
  std::vector<void*> pins;  // guarded by mu
  auto churn = [&]() -> Task<void> {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!churned.insert(std::this_thread::get_id()).second) co_return;
    }
    std::vector<char*> blocks;
    for (int i = 0; i < 100; ++i) {
      char* p = static_cast<char*>(malloc(200 << 10));
      std::memset(p, 5, 200 << 10);
      blocks.push_back(p);
      if (pinned) {
        // Over mimalloc's medium sizes: a page of its own, never written.
        void* pin = malloc((128 << 10) + 1);
        std::lock_guard<std::mutex> lock(mu);
        pins.push_back(pin);
      }
    }
    for (char* p : blocks) free(p);
  };
  rt->block_on([&]() -> Task<void> {
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      std::vector<JoinHandle<void>> hs;
      for (int i = 0; i < 8; ++i) hs.push_back(spawn(churn()));
      for (auto& h : hs) co_await h;
      std::lock_guard<std::mutex> lock(mu);
      if (churned.size() >= 2) break;
    }
  }());
  const int64_t kept = alloc::ResidentBytes();
  // Well past the idle trim's 100 ms.
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  const int64_t after = alloc::ResidentBytes();
  std::printf(
      "workers churned %zu; start %lld, freed but delayed %lld, "
      "idle %lld\n",
      churned.size(), static_cast<long long>(start),
      static_cast<long long>(kept), static_cast<long long>(after));
  for (void* p : pins) free(p);
  return churned.size() == 2 && kept - start > (32 << 20) &&
                 after - start < (8 << 20)
             ? 0
             : 1;
}

// 8 threads bound as workers allocate, swap blocks through shared slots so
// that most are freed by another thread, and go idle or trim at random
// moments (trims overlapping, each lifting the decommit delay while it
// collects): every block keeps its contents. Other backends pass.
int ChildIdleReleaseStress() {
  if (alloc::active_backend().kind != alloc::Backend::kMimalloc) return 0;
  alloc::Policy policy = alloc::DefaultPolicy();
  policy.mimalloc_decommit_delay_ms = 25;
  if (!alloc::Configure(policy).ok()) return 3;
  constexpr int kThreads = 8;
  constexpr int kOps = 400'000;
  constexpr size_t kSlots = 1024;
  std::vector<std::atomic<void*>> slots(kSlots);
  std::atomic<bool> corrupt{false};
  std::atomic<int> releases{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      alloc::BindThread(alloc::ThreadRole::kWorker);
      std::minstd_rand rng(t + 1);
      for (int i = 0; i < kOps; ++i) {
        const uint32_t r = rng();
        const size_t size = r % 13 == 0 ? 200 * 1024 : 16 + r % 2048;
        void* p = malloc(size);
        std::memcpy(p, &p, sizeof p);
        void* old =
            slots[rng() % kSlots].exchange(p, std::memory_order_acq_rel);
        if (old != nullptr) {
          void* stored;
          std::memcpy(&stored, old, sizeof stored);
          if (stored != old) corrupt = true;
          free(old);
        }
        if (r % 4093 == 0) {
          if (r % 2 == 0) {
            alloc::ThreadIdle(alloc::ThreadRole::kWorker);
          } else {
            alloc::trim();
          }
          releases.fetch_add(1, std::memory_order_relaxed);
        }
      }
      alloc::ThreadExit(alloc::ThreadRole::kWorker);
    });
  }
  for (auto& t : threads) t.join();
  for (auto& s : slots) free(s.load());
  std::printf("%d releases\n", releases.load());
  if (corrupt) std::printf("corrupted block\n");
  return !corrupt && releases.load() > 100 ? 0 : 1;
}

// 10,000,000 operations over 16 threads: malloc, calloc, realloc, aligned
// allocations, each block freed by whichever thread swaps it out of a shared
// slot. Each block carries its address as a tag, checked before free.
int ChildStress() {
  const alloc::Backend b = alloc::active_backend().kind;
  constexpr int kThreads = 16;
  constexpr int kOpsPerThread = 10'000'000 / kThreads;
  constexpr size_t kSlots = 4096;
  std::vector<std::atomic<void*>> slots(kSlots);
  const int64_t before = b == alloc::Backend::kMimalloc ? 0 : InUse(b);
  std::atomic<bool> corrupt{false};
  auto tag = [](void* p) { std::memcpy(p, &p, sizeof p); };
  // `tagged_as` differs from p after a realloc moved the block.
  auto check = [&](void* p, void* tagged_as) {
    void* stored;
    std::memcpy(&stored, p, sizeof stored);
    if (stored != tagged_as) corrupt = true;
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::minstd_rand rng(t + 1);
      for (int i = 0; i < kOpsPerThread; ++i) {
        const uint32_t r = rng();
        size_t size = 16 + r % 4096;
        if (r % 97 == 0) size = 200 * 1024;
        void* p;
        switch (r % 5) {
          case 0:
            p = calloc(1, size);
            break;
          case 1:
            p = aligned_alloc(64, (size + 63) & ~size_t{63});
            break;
          case 2:
            p = realloc(malloc(32), size);
            break;
          case 3:
            p = new char[size];
            break;
          default:
            p = malloc(size);
        }
        tag(p);
        void* old =
            slots[rng() % kSlots].exchange(p, std::memory_order_acq_rel);
        if (old != nullptr) {
          check(old, old);
          // Grows or shrinks someone else's block now and then; the tag
          // must survive the move.
          if (r % 7 == 0) {
            void* moved = realloc(old, 8 + (r >> 8) % 8192);
            check(moved, old);
            old = moved;
          }
          free(old);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  for (auto& s : slots) {
    if (void* p = s.load()) {
      check(p, p);
      free(p);
    }
  }
  if (corrupt) {
    std::printf("corrupted block\n");
    return 1;
  }
  if (b != alloc::Backend::kMimalloc) {
    // jemalloc's thread caches hold blocks that count as allocated.
    alloc::trim();
    const int64_t leaked = InUse(b) - before;
    if (leaked > (4 << 20)) {
      std::printf("%lld bytes still in use after freeing everything\n",
                  static_cast<long long>(leaked));
      return 1;
    }
  }
  return 0;
}

int Dispatch(const std::string& mode) {
  if (mode == "report") return ChildReport();
  if (mode == "serves") return ChildServes();
  if (mode == "bind") return ChildBind();
  if (mode == "trim") return ChildTrim();
  if (mode == "budget_delay") return ChildBudgetDelay();
  if (mode == "trim_thread_ended") return ChildTrimAfterThreadEnds();
  if (mode == "stress") return ChildStress();
  if (mode == "idle_flush") return ChildIdleFlush();
  if (mode == "in_use") return ChildInUse();
  if (mode == "runtime_idle_release") return RuntimeIdleRelease(false);
  if (mode == "runtime_idle_release_pinned") return RuntimeIdleRelease(true);
  if (mode == "idle_release_stress") return ChildIdleReleaseStress();
  std::printf("unknown child mode %s\n", mode.c_str());
  return 100;
}

// ---- tests ----------------------------------------------------------------

const char* const kBackends[] = {"glibc", "glibc:arena_max=2", "jemalloc",
                                 "mimalloc"};

class PerBackend : public ::testing::TestWithParam<const char*> {};

TEST_P(PerBackend, SelectedByEnvironment) {
  auto r = RunChild("report", {{"TIDEPOOL_ALLOCATOR", GetParam()}});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::string want = GetParam();
  std::string name = want.substr(0, want.find(':'));
  EXPECT_THAT(r.output, HasSubstr("backend=" + name));
  EXPECT_THAT(r.output, HasSubstr(want == "glibc:arena_max=2" ? "arena_max=2"
                                                              : "arena_max=0"));
  // Only the chosen backend's library is loaded, where it can be chosen
  // late (jemalloc cannot: malloc_override links it).
  EXPECT_THAT(r.output, HasSubstr(name == "mimalloc" ? "mimalloc_mapped=1"
                                                     : "mimalloc_mapped=0"));
}

TEST_P(PerBackend, ServesMallocAndOperatorNew) {
  auto r = RunChild("serves", {{"TIDEPOOL_ALLOCATOR", GetParam()}});
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST_P(PerBackend, BindsRuntimeThreads) {
  auto r = RunChild("bind", {{"TIDEPOOL_ALLOCATOR", GetParam()}});
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST_P(PerBackend, TrimReturnsMemory) {
  auto r = RunChild("trim", {{"TIDEPOOL_ALLOCATOR", GetParam()}});
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST_P(PerBackend, AMemoryBudgetShortensMimallocsDecommitDelay) {
  auto r = RunChild("budget_delay", {{"TIDEPOOL_ALLOCATOR", GetParam()}});
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST_P(PerBackend, TrimReturnsWhatAnEndedThreadFreed) {
  auto r = RunChild("trim_thread_ended", {{"TIDEPOOL_ALLOCATOR", GetParam()}});
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST_P(PerBackend, SleepingBlockingThreadReleasesItsCache) {
  auto r = RunChild("idle_flush", {{"TIDEPOOL_ALLOCATOR", GetParam()}});
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST_P(PerBackend, CountsInUseBytesForTheMemoryBudget) {
  auto r = RunChild("in_use", {{"TIDEPOOL_ALLOCATOR", GetParam()}});
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST_P(PerBackend, IdleRuntimeReleasesItsWorkersPages) {
  auto r =
      RunChild("runtime_idle_release", {{"TIDEPOOL_ALLOCATOR", GetParam()}});
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST_P(PerBackend, IdleRuntimeReleasesPagesInSegmentsStillInUse) {
  auto r = RunChild("runtime_idle_release_pinned",
                    {{"TIDEPOOL_ALLOCATOR", GetParam()}});
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST_P(PerBackend, IdleReleasesAmidCrossThreadFrees) {
  auto r =
      RunChild("idle_release_stress", {{"TIDEPOOL_ALLOCATOR", GetParam()}});
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST_P(PerBackend, TenMillionMixedOperationsAcrossSixteenThreads) {
  auto r = RunChild("stress", {{"TIDEPOOL_ALLOCATOR", GetParam()}});
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

INSTANTIATE_TEST_SUITE_P(Backends, PerBackend, ::testing::ValuesIn(kBackends),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n) {
                             if (!std::isalnum(static_cast<unsigned char>(c)))
                               c = '_';
                           }
                           return n;
                         });

TEST(MallocOverrideTest, UnsetMeansGlibc) {
  auto r = RunChild("report", {});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("backend=glibc"));
}

TEST(MallocOverrideTest, BadValueFailsBeforeMainWithOneClearLine) {
  for (const char* bad : {"tcmalloc", "", "glibc:arena_max=0",
                          "glibc:arena_max=99999", "JEMALLOC"}) {
    auto r = RunChild("report", {{"TIDEPOOL_ALLOCATOR", bad}});
    EXPECT_EQ(r.exit_code, 2) << bad;
    EXPECT_EQ(r.output, std::string("tidepool: TIDEPOOL_ALLOCATOR='") + bad +
                            "' is not valid: accepted values are " +
                            alloc::kAcceptedBackends + "\n");
  }
}

std::string WriteConfig(const std::string& name, const std::string& text) {
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string path = std::string(dir ? dir : "/tmp") + "/" + name;
  std::ofstream(path) << text;
  return path;
}

TEST(MallocOverrideTest, ConfigFileChoosesAndEnvironmentWins) {
  const std::string path = WriteConfig("alloc.conf",
                                       "# tidepool settings\n\n  allocator = "
                                       "jemalloc  # fast\nworker_threads=3\n");
  auto r = RunChild("report", {{"TIDEPOOL_CONFIG", path}});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("backend=jemalloc"));
  // The file read inside the first malloc still holds its settings in main.
  EXPECT_THAT(r.output, HasSubstr("workers=3"));
  r = RunChild("report",
               {{"TIDEPOOL_CONFIG", path}, {"TIDEPOOL_ALLOCATOR", "mimalloc"}});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("backend=mimalloc"));
}

TEST(MallocOverrideTest, BadRuntimeKnobInConfigFileIsRejected) {
  const std::string path = WriteConfig("knob.conf", "max_blocking_threads=0\n");
  auto r = RunChild("report", {{"TIDEPOOL_CONFIG", path}});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(
      r.output,
      HasSubstr("TIDEPOOL_MAX_BLOCKING_THREADS='0' (from TIDEPOOL_CONFIG)"));
  const std::string slow =
      WriteConfig("slow.conf", "slow_poll_threshold_ms=soon\n");
  r = RunChild("report", {{"TIDEPOOL_CONFIG", slow}});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("TIDEPOOL_SLOW_POLL_THRESHOLD_MS='soon' "
                                  "(from TIDEPOOL_CONFIG)"));
}

TEST(MallocOverrideTest, ConfigFileSetsTheMemoryBudget) {
  const std::string path = WriteConfig("budget.conf", "memory_budget = 24M\n");
  auto r = RunChild("report", {{"TIDEPOOL_CONFIG", path}});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("memory_budget=25165824"));
  r = RunChild("report",
               {{"TIDEPOOL_CONFIG", path}, {"TIDEPOOL_MEMORY_BUDGET", "1G"}});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("memory_budget=1073741824"));
  const std::string bad = WriteConfig("bad_budget.conf", "memory_budget=24X\n");
  r = RunChild("report", {{"TIDEPOOL_CONFIG", bad}});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output,
              HasSubstr("TIDEPOOL_MEMORY_BUDGET (from TIDEPOOL_CONFIG)='24X' "
                        "is not valid: accepted values are 0 (no budget)"));
}

TEST(MallocOverrideTest, MalformedConfigFileNamesTheLine) {
  const std::string path =
      WriteConfig("bad.conf", "allocator=glibc\nworker_threads 4\n");
  auto r = RunChild("report", {{"TIDEPOOL_CONFIG", path}});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.output, "TIDEPOOL_CONFIG=" + path + ":2: expected key=value\n");
  const std::string unknown = WriteConfig("unknown.conf", "alocator=glibc\n");
  r = RunChild("report", {{"TIDEPOOL_CONFIG", unknown}});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.output, HasSubstr(":1: unknown key"));
  r = RunChild("report", {{"TIDEPOOL_CONFIG", "/nonexistent/tidepool.conf"}});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.output, HasSubstr("cannot be opened"));
}

TEST(MallocOverrideTest, PolicyExpectingAnotherBackendIsRefused) {
  // This process runs on glibc (TIDEPOOL_ALLOCATOR unset under Bazel).
  alloc::Policy p = alloc::DefaultPolicy();
  p.expect = alloc::Backend::kJemalloc;
  auto rt = Builder().worker_threads(1).process_allocator(p).build();
  ASSERT_FALSE(rt.ok());
  EXPECT_THAT(std::string(rt.status().message()),
              HasSubstr("expects backend jemalloc"));
}

}  // namespace
}  // namespace tidepool

int main(int argc, char** argv) {
  tidepool::testing::MaybeRunChild(tidepool::Dispatch);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
