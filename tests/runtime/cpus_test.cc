// How many CPUs the runtime may use: the cgroup CPU limit's parser, and
// the count against the thread's own affinity.
#include "runtime/internal/cpus.h"

#include <sched.h>

#include <optional>

#include "gtest/gtest.h"

namespace tidepool::internal {
namespace {

TEST(ParseCgroupCpuMaxTest, ReadsQuotaOverPeriod) {
  EXPECT_EQ(ParseCgroupCpuMax("150000 100000\n"), 1.5);
  EXPECT_EQ(ParseCgroupCpuMax("200000\n 100000\n"), 2.0);  // v1, joined
}

TEST(ParseCgroupCpuMaxTest, UnlimitedOrUnreadableIsNone) {
  EXPECT_EQ(ParseCgroupCpuMax("max 100000\n"), std::nullopt);
  EXPECT_EQ(ParseCgroupCpuMax("-1\n 100000\n"), std::nullopt);  // v1
  EXPECT_EQ(ParseCgroupCpuMax(""), std::nullopt);
  EXPECT_EQ(ParseCgroupCpuMax(" 100000"), std::nullopt);
  EXPECT_EQ(ParseCgroupCpuMax("12x 100000"), std::nullopt);
  EXPECT_EQ(ParseCgroupCpuMax("100000 0"), std::nullopt);
}

TEST(UsableCpusTest, TheQuotaCapsTheAffinityRoundedDown) {
  EXPECT_EQ(UsableCpusFrom(8, std::nullopt), 8);
  EXPECT_EQ(UsableCpusFrom(8, 2.0), 2);
  EXPECT_EQ(UsableCpusFrom(8, 1.9), 1);
  EXPECT_EQ(UsableCpusFrom(8, 0.5), 1);  // at least one
  EXPECT_EQ(UsableCpusFrom(8, 0.0), 1);
  EXPECT_EQ(UsableCpusFrom(2, 1e12), 2);  // more than an int holds
  EXPECT_EQ(UsableCpusFrom(0, std::nullopt), 1);
}

TEST(UsableCpusTest, FollowsTheAffinityAndIsAtLeastOne) {
  cpu_set_t saved;
  ASSERT_EQ(sched_getaffinity(0, sizeof saved, &saved), 0);
  const int usable = UsableCpus();
  EXPECT_GE(usable, 1);
  EXPECT_LE(usable, CPU_COUNT(&saved));
  cpu_set_t one;
  CPU_ZERO(&one);
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &saved)) {
      CPU_SET(cpu, &one);
      break;
    }
  }
  ASSERT_EQ(sched_setaffinity(0, sizeof one, &one), 0);
  EXPECT_EQ(UsableCpus(), 1);
  ASSERT_EQ(sched_setaffinity(0, sizeof saved, &saved), 0);
}

}  // namespace
}  // namespace tidepool::internal
