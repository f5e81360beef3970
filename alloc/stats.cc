#include "alloc/stats.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace tidepool::alloc {
namespace {

std::string Mb(int64_t bytes) {
  if (bytes < 0) return "n/a";
  return absl::StrFormat("%.1f MB", static_cast<double>(bytes) / (1 << 20));
}

}  // namespace

std::string FormatArenaInfo(const Stats& s, const std::string& prefix) {
  std::string out;
  auto line = [&](const std::string& text) {
    absl::StrAppend(&out, prefix, text, "\n");
  };
  line(absl::StrCat("=== Arena Info (", BackendName(s.backend), ") ==="));
  line(absl::StrCat("  Arena (non-mmap): ", Mb(s.arena)));
  line(absl::StrCat("  Allocated:        ", Mb(s.allocated)));
  line(absl::StrCat("  Free in arenas:   ", Mb(s.free_held)));
  line(absl::StrCat("  Releasable:       ", Mb(s.releasable)));
  if (s.mmap_regions >= 0) {
    line(absl::StrCat("  Mmap regions:     ", s.mmap_regions, " (",
                      Mb(s.mmap_bytes), ")"));
  }
  if (s.free_chunks >= 0)
    line(absl::StrCat("  Free chunks:      ", s.free_chunks));
  line(absl::StrCat("  Resident:         ", Mb(s.resident)));
  if (s.utilization >= 0) {
    line(absl::StrFormat("  Arena utilization: %.1f%%", s.utilization * 100));
    // The seed's two warnings: the arena is mostly free space, and most of
    // that free space cannot be handed back.
    if (s.utilization < 0.25 && s.arena > (16 << 20)) {
      line("  WARNING: Low utilization suggests arena fragmentation!");
    }
    if (s.free_held > (16 << 20) && s.releasable >= 0 &&
        s.releasable * 4 < s.free_held) {
      line(absl::StrCat("  WARNING: ", Mb(s.free_held), " free but only ",
                        Mb(s.releasable), " releasable!"));
    }
  }
  return out;
}

}  // namespace tidepool::alloc
