// jemalloc: an arena per worker, a small shared set for blocking threads,
// tcache flush on idle, purge on trim, stats from mallctl. jemalloc is
// reached by name (dlsym), so this code links whether or not the program
// uses it.
#include <dlfcn.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "alloc/internal/backend_impl.h"

namespace tidepool::alloc::internal {
namespace {

using MallctlFn = int (*)(const char*, void*, size_t*, void*, size_t);

// jemalloc's MALLCTL_ARENAS_ALL: "arena.4096.purge" purges every arena.
constexpr unsigned kAllArenas = 4096;
// Page counts of all arenas, spelled out: the budget reads them at every
// sample.
constexpr char kDirtyPages[] = "stats.arenas.4096.pdirty";
constexpr char kMuzzyPages[] = "stats.arenas.4096.pmuzzy";
static_assert(kAllArenas == 4096, "kDirtyPages and kMuzzyPages name it");

// a + b, two byte counts each -1 when unreadable: -1 if either is.
int64_t SumOrUnknown(int64_t a, int64_t b) {
  return a < 0 || b < 0 ? -1 : a + b;
}

class JemallocBackend final : public BackendImpl {
 public:
  JemallocBackend()
      : mallctl_(reinterpret_cast<MallctlFn>(dlsym(RTLD_DEFAULT, "mallctl"))) {}

  absl::Status Configure(const Policy& policy) override {
    if (mallctl_ == nullptr) {
      return absl::FailedPreconditionError(
          "jemalloc serves malloc but its mallctl is not reachable");
    }
    if (policy.jemalloc_blocking_arenas < 0 ||
        policy.jemalloc_blocking_arenas > 64) {
      return absl::InvalidArgumentError(absl::StrCat(
          "jemalloc_blocking_arenas=", policy.jemalloc_blocking_arenas,
          " is out of range: accepted values are 0 to 64"));
    }
    if (policy.jemalloc_decay_ms < -1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "jemalloc_decay_ms=", policy.jemalloc_decay_ms,
          " is out of range: accepted values are -1 (jemalloc's default) "
          "or 0 and above"));
    }
    bool background = policy.jemalloc_background_thread;
    mallctl_("background_thread", nullptr, nullptr, &background,
             sizeof background);
    std::lock_guard<std::mutex> lock(mu_);
    decay_ms_ = policy.jemalloc_decay_ms;
    while (blocking_arenas_.size() <
           static_cast<size_t>(policy.jemalloc_blocking_arenas)) {
      unsigned arena;
      if (!CreateArena(&arena)) break;
      blocking_arenas_.push_back(arena);
    }
    blocking_arenas_.resize(
        std::min(blocking_arenas_.size(),
                 static_cast<size_t>(policy.jemalloc_blocking_arenas)));
    for (unsigned a : blocking_arenas_) ApplyDecay(a);
    for (unsigned a : free_worker_arenas_) ApplyDecay(a);
    return absl::OkStatus();
  }

  void BindThread(ThreadRole role) override {
    if (mallctl_ == nullptr || role == ThreadRole::kOther) return;
    unsigned arena;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (role == ThreadRole::kWorker) {
        if (!free_worker_arenas_.empty()) {
          arena = free_worker_arenas_.back();
          free_worker_arenas_.pop_back();
        } else if (!CreateArena(&arena)) {
          return;
        }
        tls_worker_arena_ = arena;
      } else {
        if (blocking_arenas_.empty()) return;
        arena = blocking_arenas_[next_blocking_++ % blocking_arenas_.size()];
      }
    }
    mallctl_("thread.arena", nullptr, nullptr, &arena, sizeof arena);
  }

  void ThreadIdle(ThreadRole) override { FlushTcache(); }

  void ThreadExit(ThreadRole role) override {
    FlushTcache();
    if (role == ThreadRole::kWorker && tls_worker_arena_ != kNone) {
      // The next runtime's worker reuses the arena rather than growing the
      // arena count with every runtime built.
      std::lock_guard<std::mutex> lock(mu_);
      free_worker_arenas_.push_back(tls_worker_arena_);
      tls_worker_arena_ = kNone;
    }
  }

  void Trim() override {
    if (mallctl_ == nullptr) return;
    const std::string purge = absl::StrCat("arena.", kAllArenas, ".purge");
    mallctl_(purge.c_str(), nullptr, nullptr, nullptr, 0);
  }

  int64_t InUseBytes() override {
    if (mallctl_ == nullptr) return -1;
    RefreshStats();
    return SumOrUnknown(Read("stats.allocated"), UnpurgedBytes());
  }

  void FillStats(Stats* s) override {
    if (mallctl_ == nullptr) return;
    RefreshStats();
    const int64_t allocated = Read("stats.allocated");
    const int64_t active = Read("stats.active");
    const int64_t dirty = DirtyBytes();
    const int64_t muzzy = MuzzyBytes();
    const int64_t unpurged = SumOrUnknown(dirty, muzzy);
    s->allocated = allocated;
    s->arena = SumOrUnknown(active, unpurged);
    s->free_held = s->arena < 0 || allocated < 0 ? -1 : s->arena - allocated;
    s->releasable = unpurged;
    s->detail = {{"stats.allocated", allocated},
                 {"stats.active", active},
                 {"stats.metadata", Read("stats.metadata")},
                 {"stats.resident", Read("stats.resident")},
                 {"stats.mapped", Read("stats.mapped")},
                 {"stats.retained", Read("stats.retained")},
                 {"dirty bytes", dirty},
                 {"muzzy bytes", muzzy},
                 {"arenas.narenas", Read32("arenas.narenas")}};
  }

 private:
  static constexpr unsigned kNone = ~0u;

  bool CreateArena(unsigned* arena) {
    size_t len = sizeof *arena;
    if (mallctl_("arenas.create", arena, &len, nullptr, 0) != 0) return false;
    ApplyDecay(*arena);
    return true;
  }

  void ApplyDecay(unsigned arena) {
    if (decay_ms_ < 0) return;
    ssize_t ms = decay_ms_;
    for (const char* kind : {"dirty_decay_ms", "muzzy_decay_ms"}) {
      const std::string name = absl::StrCat("arena.", arena, ".", kind);
      mallctl_(name.c_str(), nullptr, nullptr, &ms, sizeof ms);
    }
  }

  // Pages of all arenas that are free but not purged yet, in bytes, or -1
  // if unreadable: dirty (untouched since their free) and muzzy
  // (madvise(MADV_FREE)d, resident until the kernel reclaims them). What
  // jemalloc keeps resident beyond what it has allocated.
  int64_t UnpurgedBytes() { return SumOrUnknown(DirtyBytes(), MuzzyBytes()); }
  int64_t DirtyBytes() { return PageBytes(kDirtyPages); }
  int64_t MuzzyBytes() { return PageBytes(kMuzzyPages); }

  // A page count in bytes, or -1 if unreadable.
  int64_t PageBytes(const char* name) {
    const int64_t pages = Read(name);
    return pages < 0 ? -1 : pages * sysconf(_SC_PAGESIZE);
  }

  // Stats are snapshots refreshed by writing the epoch.
  void RefreshStats() {
    uint64_t epoch = 1;
    size_t len = sizeof epoch;
    mallctl_("epoch", &epoch, &len, &epoch, len);
  }

  void FlushTcache() {
    if (mallctl_ != nullptr) {
      mallctl_("thread.tcache.flush", nullptr, nullptr, nullptr, 0);
    }
  }

  int64_t Read(const char* name) {
    size_t value = 0;
    size_t len = sizeof value;
    if (mallctl_(name, &value, &len, nullptr, 0) != 0) return -1;
    return static_cast<int64_t>(value);
  }

  int64_t Read32(const char* name) {
    unsigned value = 0;
    size_t len = sizeof value;
    if (mallctl_(name, &value, &len, nullptr, 0) != 0) return -1;
    return value;
  }

  const MallctlFn mallctl_;
  std::mutex mu_;
  int decay_ms_ = -1;                         // guarded by mu_
  std::vector<unsigned> blocking_arenas_;     // guarded by mu_
  std::vector<unsigned> free_worker_arenas_;  // guarded by mu_
  size_t next_blocking_ = 0;                  // guarded by mu_
  static thread_local unsigned tls_worker_arena_;
};

thread_local unsigned JemallocBackend::tls_worker_arena_ =
    JemallocBackend::kNone;

}  // namespace

std::unique_ptr<BackendImpl> MakeJemallocBackend() {
  return std::make_unique<JemallocBackend>();
}

}  // namespace tidepool::alloc::internal
