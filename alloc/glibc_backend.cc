// glibc malloc: arena cap, fixed mmap and trim thresholds, malloc_trim, and
// stats from mallinfo2 and malloc_info.
#include <malloc.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>

#include "absl/strings/str_cat.h"
#include "alloc/internal/backend_impl.h"

namespace tidepool::alloc::internal {
namespace {

// glibc refuses thresholds above HEAP_MAX_SIZE / 2 on 64-bit.
constexpr size_t kMaxMmapThreshold = 32u << 20;
// mallopt takes an int.
constexpr size_t kMaxTrimThreshold = std::numeric_limits<int>::max();

class GlibcBackend final : public BackendImpl {
 public:
  absl::Status Configure(const Policy& policy) override {
    if (policy.glibc_arena_max < 0 || policy.glibc_arena_max > kMaxArenaMax) {
      return absl::InvalidArgumentError(absl::StrCat(
          "glibc_arena_max=", policy.glibc_arena_max,
          " is out of range: accepted values are 0 (glibc's default) to ",
          kMaxArenaMax));
    }
    if (policy.glibc_mmap_threshold > kMaxMmapThreshold) {
      return absl::InvalidArgumentError(absl::StrCat(
          "glibc_mmap_threshold=", policy.glibc_mmap_threshold,
          " is out of range: accepted values are 0 (glibc's sliding "
          "threshold) to ",
          kMaxMmapThreshold));
    }
    if (policy.glibc_trim_threshold > kMaxTrimThreshold) {
      return absl::InvalidArgumentError(absl::StrCat(
          "glibc_trim_threshold=", policy.glibc_trim_threshold,
          " is out of range: accepted values are 0 (glibc's own) to ",
          kMaxTrimThreshold));
    }
    if (policy.glibc_trim_threshold > 0 && policy.glibc_mmap_threshold == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "glibc_trim_threshold=", policy.glibc_trim_threshold,
          " needs glibc_mmap_threshold set too (glibc stops sliding its mmap "
          "threshold once the trim threshold is set): accepted values are "
          "glibc_mmap_threshold 1 to ",
          kMaxMmapThreshold, " with it, or glibc_trim_threshold=0"));
    }
    if (policy.glibc_arena_max > 0)
      mallopt(M_ARENA_MAX, policy.glibc_arena_max);
    if (policy.glibc_mmap_threshold > 0) {
      // Setting it also stops glibc from raising it after large frees.
      mallopt(M_MMAP_THRESHOLD, static_cast<int>(policy.glibc_mmap_threshold));
    }
    if (policy.glibc_trim_threshold > 0) {
      mallopt(M_TRIM_THRESHOLD, static_cast<int>(policy.glibc_trim_threshold));
    }
    return absl::OkStatus();
  }

  void Trim() override { malloc_trim(0); }

  int64_t InUseBytes() override {
    const struct mallinfo2 mi = mallinfo2();
    return static_cast<int64_t>(mi.uordblks + mi.hblkhd);
  }

  void FillStats(Stats* s) override {
    const struct mallinfo2 mi = mallinfo2();
    s->allocated = static_cast<int64_t>(mi.uordblks);
    s->arena = static_cast<int64_t>(mi.arena);
    s->free_held = static_cast<int64_t>(mi.fordblks);
    s->free_chunks = static_cast<int64_t>(mi.ordblks);
    s->mmap_regions = static_cast<int64_t>(mi.hblks);
    s->mmap_bytes = static_cast<int64_t>(mi.hblkhd);
    // mallinfo2's keepcost covers the main arena's top chunk only; estimate
    // what malloc_trim(0) frees in every arena from malloc_info's free-chunk
    // histogram instead.
    s->releasable = EstimateReleasable();
    s->detail = {{"mallinfo2.arena", s->arena},
                 {"mallinfo2.uordblks", s->allocated},
                 {"mallinfo2.fordblks", s->free_held},
                 {"mallinfo2.keepcost", static_cast<int64_t>(mi.keepcost)},
                 {"mallinfo2.hblkhd", s->mmap_bytes}};
  }

 private:
  // malloc_trim(0) returns, with madvise, the whole pages inside free chunks
  // and the top of each heap. From malloc_info's <size from= to= total=
  // count=> lines, count every free chunk of at least a page as releasable
  // except about one page of edges per chunk.
  static int64_t EstimateReleasable() {
    char* text = nullptr;
    size_t len = 0;
    FILE* out = open_memstream(&text, &len);
    if (out == nullptr) return -1;
    malloc_info(0, out);
    std::fclose(out);
    const int64_t page = sysconf(_SC_PAGESIZE);
    int64_t releasable = 0;
    for (char* line = std::strtok(text, "\n"); line != nullptr;
         line = std::strtok(nullptr, "\n")) {
      long long from, to, total, count;
      if (std::sscanf(line,
                      " <size from=\"%lld\" to=\"%lld\" total=\"%lld\" "
                      "count=\"%lld\"/>",
                      &from, &to, &total, &count) == 4 &&
          from >= page) {
        const int64_t usable = total - count * page;
        if (usable > 0) releasable += usable;
      }
    }
    std::free(text);
    return releasable + static_cast<int64_t>(mallinfo2().keepcost);
  }
};

}  // namespace

std::unique_ptr<BackendImpl> MakeGlibcBackend() {
  return std::make_unique<GlibcBackend>();
}

}  // namespace tidepool::alloc::internal
