// mimalloc: a heap per runtime thread, collection when a thread idles or
// exits, a short decommit delay. mimalloc is reached by name (dlsym), so
// this code links whether or not the program uses it.
#include <dlfcn.h>
#include <mimalloc.h>

#include <cstdint>
#include <memory>

#include "absl/strings/str_cat.h"
#include "alloc/internal/backend_impl.h"
#include "alloc/internal/malloc_ops.h"

namespace tidepool::alloc::internal {
namespace {

// The subset of mimalloc 2.0.9's API used here. mimalloc.h supplies the
// types; the functions are looked up by name.
struct MimallocApi {
  decltype(&mi_heap_new) heap_new;
  decltype(&mi_heap_set_default) heap_set_default;
  decltype(&mi_heap_get_backing) heap_get_backing;
  decltype(&mi_heap_delete) heap_delete;
  decltype(&mi_collect) collect;
  decltype(&mi_option_set) option_set;
  decltype(&mi_process_info) process_info;
};

class MimallocBackend final : public BackendImpl {
 public:
  MimallocBackend() {
    ok_ = FindSymbol(RTLD_DEFAULT, "mi_heap_new", &api_.heap_new) &&
          FindSymbol(RTLD_DEFAULT, "mi_heap_set_default",
                     &api_.heap_set_default) &&
          FindSymbol(RTLD_DEFAULT, "mi_heap_get_backing",
                     &api_.heap_get_backing) &&
          FindSymbol(RTLD_DEFAULT, "mi_heap_delete", &api_.heap_delete) &&
          FindSymbol(RTLD_DEFAULT, "mi_collect", &api_.collect) &&
          FindSymbol(RTLD_DEFAULT, "mi_option_set", &api_.option_set) &&
          FindSymbol(RTLD_DEFAULT, "mi_process_info", &api_.process_info);
  }

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
    if (policy.mimalloc_decommit_delay_ms >= 0) {
      // Named decommit_delay in 2.0.9 (purge_delay in later releases).
      api_.option_set(mi_option_decommit_delay,
                      policy.mimalloc_decommit_delay_ms);
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

  void ThreadIdle(ThreadRole) override {
    // A parked thread does not process the frees other threads deferred to
    // its pages; collecting now hands them back.
    if (ok_) api_.collect(false);
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

  void Trim() override {
    if (ok_) api_.collect(true);
  }

  int64_t InUseBytes() override {
    if (!ok_) return -1;
    size_t elapsed, user, sys, rss, peak_rss, commit, peak_commit, faults;
    api_.process_info(&elapsed, &user, &sys, &rss, &peak_rss, &commit,
                      &peak_commit, &faults);
    return static_cast<int64_t>(commit);
  }

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
  MimallocApi api_{};
  bool ok_ = false;
  bool heap_per_thread_ = true;
  static thread_local mi_heap_t* tls_heap_;
};

thread_local mi_heap_t* MimallocBackend::tls_heap_ = nullptr;

}  // namespace

std::unique_ptr<BackendImpl> MakeMimallocBackend() {
  return std::make_unique<MimallocBackend>();
}

}  // namespace tidepool::alloc::internal
