// mimalloc: a heap per runtime thread, collects when threads idle or exit,
// and, when a decommit delay is set, no delay while an idle worker or a
// trim collects, and an idle worker's sweep of its own segments.
// mimalloc is reached by name (dlsym), so this code links whether or not the
// program uses it.
#include <dlfcn.h>
#include <mimalloc.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "alloc/alloc.h"
#include "alloc/internal/backend_impl.h"
#include "alloc/internal/malloc_ops.h"
#include "alloc/internal/mimalloc_api.h"

namespace tidepool::alloc::internal {
namespace {

// Calls f(name, field) for each function of MimallocApi: the one list
// behind Complete() and FindMimallocApi().
template <typename Api, typename F>
void ForEachFunction(Api& api, F f) {
  f("mi_heap_new", api.heap_new);
  f("mi_heap_set_default", api.heap_set_default);
  f("mi_heap_get_backing", api.heap_get_backing);
  f("mi_heap_delete", api.heap_delete);
  f("mi_collect", api.collect);
  f("mi_option_set", api.option_set);
  f("mi_option_get", api.option_get);
  f("mi_process_info", api.process_info);
  f("mi_malloc", api.malloc);
  f("mi_free", api.free);
}

bool Complete(const MimallocApi& api) {
  bool complete = true;
  ForEachFunction(api, [&](const char*, const auto& fn) {
    complete = complete && fn != nullptr;
  });
  return complete;
}

class MimallocBackend final : public BackendImpl {
 public:
  explicit MimallocBackend(const MimallocApi& api)
      : api_(api), ok_(Complete(api)) {}

  absl::Status Configure(const Policy& policy) override {
    if (!ok_) {
      return absl::FailedPreconditionError(
          "mimalloc serves malloc but its mi_* functions are not reachable");
    }
    if (policy.mimalloc_decommit_delay_ms < -1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "mimalloc_decommit_delay_ms=", policy.mimalloc_decommit_delay_ms,
          " is out of range: accepted values are -1 (mimalloc's default) or 0 "
          "and above"));
    }
    {
      std::lock_guard<std::mutex> lock(delay_mu_);
      if (policy.mimalloc_decommit_delay_ms >= 0) {
        busy_delay_ms_ = policy.mimalloc_decommit_delay_ms;
      } else if (zero_windows_ == 0) {
        // With a zero-delay window open (another runtime's idle collect)
        // the option reads 0: the busy delay taken before stays.
        busy_delay_ms_ = api_.option_get(mi_option_decommit_delay);
      }
      // Named decommit_delay in 2.0.9 (purge_delay in later releases). A
      // zero-delay window still open sets it as it closes.
      if (zero_windows_ == 0 && policy.mimalloc_decommit_delay_ms >= 0) {
        api_.option_set(mi_option_decommit_delay, busy_delay_ms_);
      }
      release_on_idle_ = policy.mimalloc_release_on_idle;
    }
    if (policy.mimalloc_release_on_idle) {
      // The segments a thread leaves behind as it ends have their delayed
      // decommits done then, not when another thread's forced collect
      // happens to visit them.
      api_.option_set(mi_option_abandoned_page_decommit, 1);
    }
    heap_per_thread_ = policy.mimalloc_heap_per_thread;
    return absl::OkStatus();
  }

  void BindThread(ThreadRole role) override {
    if (!ok_ || !heap_per_thread_ || role == ThreadRole::kOther ||
        tls_heap_ != nullptr) {
      return;
    }
    tls_heap_ = api_.heap_new();
    if (tls_heap_ != nullptr) api_.heap_set_default(tls_heap_);
  }

  void ThreadIdle(ThreadRole role) override {
    if (!ok_) return;
    // A worker calls this once the runtime has been idle a while: what its
    // heap holds can go back now.
    if (role == ThreadRole::kWorker) {
      CollectWithoutDelay(/*sweep=*/true);
      return;
    }
    // A parked thread does not process the frees other threads deferred to
    // its pages; collecting now hands them back.
    api_.collect(false);
  }

  void ThreadExit(ThreadRole) override {
    if (!ok_) return;
    if (tls_heap_ != nullptr) {
      // Live blocks move to the thread's backing heap, which mimalloc
      // abandons to other threads when this one ends.
      api_.heap_set_default(api_.heap_get_backing());
      api_.heap_delete(tls_heap_);
      tls_heap_ = nullptr;
    }
    api_.collect(true);
  }

  // Not swept: a trim may come while threads work (under a memory budget,
  // every 50 ms), and the sweep commits and decommits spans they would use.
  void Trim() override {
    if (ok_) CollectWithoutDelay(/*sweep=*/false);
  }

  // alloc.h says why not mi_process_info's committed bytes.
  int64_t InUseBytes() override { return ok_ ? AnonymousResidentBytes() : -1; }

  void FillStats(Stats* s) override {
    if (!ok_) return;
    size_t elapsed, user, sys, rss, peak_rss, commit, peak_commit, faults;
    api_.process_info(&elapsed, &user, &sys, &rss, &peak_rss, &commit,
                      &peak_commit, &faults);
    // mimalloc's release build keeps no count of allocated bytes; what it
    // has committed is its arena.
    s->arena = static_cast<int64_t>(commit);
    s->detail = {
        {"mi_process_info.current_commit", static_cast<int64_t>(commit)},
        {"mi_process_info.peak_commit", static_cast<int64_t>(peak_commit)},
        {"mi_process_info.current_rss", static_cast<int64_t>(rss)},
        {"mi_process_info.peak_rss", static_cast<int64_t>(peak_rss)}};
  }

 private:
  // mi_collect(true), with the decommit delay at 0 while it runs (when
  // mimalloc_release_on_idle is set and the busy delay is not 0 already),
  // then the busy delay again. mimalloc 2.0.9 decommits a span freed under
  // a delay only when its owner thread takes a page from the same segment
  // after the delay expired, which an idle thread never does; a forced
  // collect does not do it by itself. With the delay at 0, each page this
  // collect frees (pages whose blocks other threads freed, pages kept for
  // reuse) is decommitted as it is freed, with the free spans it merges
  // with. A span freed earlier that borders none of those stays until the
  // thread takes a page in that segment again. The option is
  // process-wide, so while a window is open a busy thread decommits at once
  // too; overlapping windows share one, counted under delay_mu_. With
  // `sweep`, SweepFreeSpans() reaches the spans the collect does not.
  void CollectWithoutDelay(bool sweep) {
    long busy;
    {
      std::lock_guard<std::mutex> lock(delay_mu_);
      if (!release_on_idle_ || busy_delay_ms_ == 0) {
        busy = 0;
      } else {
        busy = busy_delay_ms_;
        if (zero_windows_++ == 0) {
          api_.option_set(mi_option_decommit_delay, 0);
        }
      }
    }
    api_.collect(true);
    if (busy == 0) return;
    if (sweep) SweepFreeSpans();
    std::lock_guard<std::mutex> lock(delay_mu_);
    if (--zero_windows_ == 0) {
      api_.option_set(mi_option_decommit_delay, busy_delay_ms_);
    }
  }

  // mimalloc 2.0.9 does a segment's expired delayed decommits when its
  // owner thread takes a page from that segment's free spans, and
  // otherwise only when the thread ends. So, inside the zero-delay window,
  // the calling thread takes blocks just over mimalloc's largest medium
  // block (128 KiB), each a page of its own, best fit first among its
  // segments' free spans: every segment that has a free span of three
  // 64 KiB slices gets its expired decommits done. Then it frees them, and
  // with the delay at 0 each span is decommitted as it is freed. The
  // sweep never writes the blocks, so at most one page of each is faulted
  // in (mimalloc's own free-list word); the cost is a few hundred system
  // calls, once per idle period. At most kSweepBytes: past the free spans
  // it would take fresh segments, freed again at the end.
  void SweepFreeSpans() {
    constexpr size_t kSweepBlock = 128 * 1024 + 1;
    constexpr size_t kSweepBytes = size_t{64} << 20;
    constexpr size_t kBlocks = kSweepBytes / (192 * 1024);
    std::array<void*, kBlocks> blocks;
    size_t n = 0;
    while (n < kBlocks && (blocks[n] = api_.malloc(kSweepBlock)) != nullptr) {
      ++n;
    }
    for (size_t i = 0; i < n; ++i) api_.free(blocks[i]);
  }

  const MimallocApi api_;
  const bool ok_;
  bool heap_per_thread_ = true;
  // std::mutex rather than absl::Mutex: Debian's absl is not built for
  // ThreadSanitizer (docs/architecture.md, "Locks").
  std::mutex delay_mu_;
  long busy_delay_ms_ = 0;       // guarded by delay_mu_
  bool release_on_idle_ = true;  // guarded by delay_mu_
  int zero_windows_ = 0;         // guarded by delay_mu_
  static thread_local mi_heap_t* tls_heap_;
};

thread_local mi_heap_t* MimallocBackend::tls_heap_ = nullptr;

}  // namespace

bool FindMimallocApi(MimallocApi* api) {
  ForEachFunction(*api, [](const char* name, auto& fn) {
    FindSymbol(RTLD_DEFAULT, name, &fn);
  });
  return Complete(*api);
}

std::unique_ptr<BackendImpl> MakeMimallocBackend(const MimallocApi& api) {
  return std::make_unique<MimallocBackend>(api);
}

std::unique_ptr<BackendImpl> MakeMimallocBackend() {
  MimallocApi api;
  FindMimallocApi(&api);
  return MakeMimallocBackend(api);
}

}  // namespace tidepool::alloc::internal
