// TIDEPOOL_ALLOCATOR parsing, backend detection without the override, the
// glibc knobs, and the Arena Info report.
#include "alloc/backend.h"

#include <malloc.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "alloc/alloc.h"
#include "alloc/sanitizer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tidepool::alloc {
namespace {

using ::testing::HasSubstr;

TEST(PolicyTest, DefaultConstructedIsTheDefaultPolicy) {
  EXPECT_TRUE(Policy{} == DefaultPolicy());
  EXPECT_EQ(Policy{}.glibc_arena_max, 2);
  EXPECT_FALSE(Policy{} == NoPolicy());
}

TEST(BackendTest, ParsesAcceptedValues) {
  BackendSpec s;
  ASSERT_TRUE(ParseBackendSpec("glibc", &s));
  EXPECT_EQ(s.kind, Backend::kGlibc);
  EXPECT_EQ(s.arena_max, 0);
  ASSERT_TRUE(ParseBackendSpec("glibc:arena_max=2", &s));
  EXPECT_EQ(s.arena_max, 2);
  ASSERT_TRUE(ParseBackendSpec("glibc:arena_max=1024", &s));
  EXPECT_EQ(s.arena_max, 1024);
  ASSERT_TRUE(ParseBackendSpec("jemalloc", &s));
  EXPECT_EQ(s.kind, Backend::kJemalloc);
  ASSERT_TRUE(ParseBackendSpec("mimalloc", &s));
  EXPECT_EQ(s.kind, Backend::kMimalloc);
}

TEST(BackendTest, RejectsEverythingElse) {
  BackendSpec s;
  for (const char* bad :
       {"", "glibc ", "Glibc", "tcmalloc",
        "glibc:", "glibc:arena_max=", "glibc:arena_max=0",
        "glibc:arena_max=1025", "glibc:arena_max=-1", "glibc:arena_max=2x",
        "glibc:arena_max=00002", "jemalloc:arena_max=2"}) {
    EXPECT_FALSE(ParseBackendSpec(bad, &s)) << "accepted '" << bad << "'";
  }
}

TEST(BackendTest, DetectsGlibcWithoutOverride) {
  // This test binary links //alloc only; glibc owns malloc (sanitizer builds
  // interpose it, which shows as unknown).
#if TIDEPOOL_SANITIZER_BUILD
  EXPECT_EQ(active_backend().kind, Backend::kUnknown);
#else
  EXPECT_EQ(active_backend().kind, Backend::kGlibc);
#endif
}

TEST(BackendTest, ArenaInfoWarnsOnFragmentation) {
  Stats s;
  s.backend = Backend::kGlibc;
  s.arena = 1368 << 20;
  s.allocated = 10 << 20;
  s.free_held = 1358 << 20;
  s.releasable = 11 << 20;
  s.utilization = 10.0 / 1368;
  const std::string report = FormatArenaInfo(s, "[X] ");
  EXPECT_THAT(report, HasSubstr("[X] === Arena Info (glibc) ==="));
  EXPECT_THAT(report, HasSubstr("Arena (non-mmap): 1368.0 MB"));
  EXPECT_THAT(report, HasSubstr("Arena utilization: 0.7%"));
  EXPECT_THAT(report, HasSubstr("WARNING: Low utilization"));
  EXPECT_THAT(
      report,
      HasSubstr("WARNING: 1358.0 MB free but only 11.0 MB releasable!"));
  s.allocated = 1000 << 20;
  s.free_held = 8 << 20;
  s.utilization = 0.9;
  EXPECT_THAT(FormatArenaInfo(s), ::testing::Not(HasSubstr("WARNING")));
}

#if !TIDEPOOL_SANITIZER_BUILD
void ExpectRejected(const Policy& p, const char* setting) {
  const absl::Status st = Configure(p);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << setting;
  EXPECT_THAT(std::string(st.message()), HasSubstr(setting));
  EXPECT_THAT(std::string(st.message()), HasSubstr("accepted values"));
}

TEST(BackendTest, RejectsBadGlibcKnobsNamingThem) {
  Policy p = NoPolicy();
  p.glibc_arena_max = 2000;
  ExpectRejected(p, "glibc_arena_max=2000");
  p = NoPolicy();
  p.glibc_mmap_threshold = 64u << 20;
  ExpectRejected(p, "glibc_mmap_threshold=67108864");
  p = NoPolicy();
  p.glibc_trim_threshold = 1u << 20;
  ExpectRejected(p, "glibc_trim_threshold=1048576 needs glibc_mmap_threshold");
  p.glibc_mmap_threshold = 1u << 20;
  p.glibc_trim_threshold = size_t{1} << 40;
  ExpectRejected(p, "glibc_trim_threshold=1099511627776");
}

// In a forked child (mallopt lasts for the process): frees 4 MiB from the
// top of the main heap and exits 0 if the heap kept it, 1 if glibc gave it
// back at once.
int HeapKeepsFreedTop(const Policy& p) {
  if (!Configure(p).ok()) return 2;
  std::vector<void*> blocks;
  for (int i = 0; i < 64; ++i) blocks.push_back(std::malloc(64 << 10));
  const size_t before = mallinfo2().arena;
  for (auto it = blocks.rbegin(); it != blocks.rend(); ++it) std::free(*it);
  return mallinfo2().arena + (2 << 20) < before ? 1 : 0;
}

TEST(BackendTest, TrimThresholdKeepsABurstsHeapTop) {
  // A 16 MiB threshold keeps a burst's few MiB for the next burst; glibc's
  // own gives them back and the next burst faults them in again.
  Policy keep = DefaultPolicy();
  keep.glibc_mmap_threshold = 32u << 20;
  keep.glibc_trim_threshold = 16u << 20;
  EXPECT_EXIT(std::exit(HeapKeepsFreedTop(keep)), ::testing::ExitedWithCode(0),
              "");
  EXPECT_EXIT(std::exit(HeapKeepsFreedTop(DefaultPolicy())),
              ::testing::ExitedWithCode(1), "");
}
#endif

TEST(BackendTest, StatsAndTrimWork) {
  const Stats s = stats();
  EXPECT_GT(s.resident, 0);
  const TrimResult r = trim();
  EXPECT_GE(r.released, 0);
  EXPECT_GT(r.resident_after, 0);
}

}  // namespace
}  // namespace tidepool::alloc
