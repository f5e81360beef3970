// TimerWheel against a sorted reference: every entry fires exactly once, in
// deadline order, never before its deadline, never later than the Advance
// that passes it.
#include "runtime/internal/timer_wheel.h"

#include <algorithm>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace tidepool::internal {
namespace {

TEST(TimerWheelTest, FiresInOrderAndNeverEarly) {
  std::mt19937_64 rng(42);
  TimerWheel wheel;
  std::vector<TimerEntry> entries(20000);
  for (auto& e : entries) {
    // Spread over every level, including beyond the wheel's span.
    const int kind = rng() % 4;
    const uint64_t range = kind == 0   ? 64
                           : kind == 1 ? 5000
                           : kind == 2 ? 10'000'000
                                       : (uint64_t{1} << 40);
    e.deadline_ms = rng() % range;
    wheel.Insert(&e);
  }
  // Cancel a third.
  for (size_t i = 0; i < entries.size(); i += 3) wheel.Remove(&entries[i]);
  std::vector<uint64_t> fired_deadlines;
  uint64_t now = 0;
  bool first = true;
  size_t fired = 0;
  while (!wheel.empty()) {
    const auto next = wheel.NextExpiration();
    ASSERT_TRUE(next.has_value());
    ASSERT_GE(*next, now);
    const uint64_t previous = now;
    // Jump in uneven steps, sometimes past several deadlines at once.
    now = std::max(now + 1, *next + rng() % 3);
    wheel.Advance(now, [&](TimerEntry* e) {
      EXPECT_LE(e->deadline_ms, now) << "fired early";
      // Due by the previous Advance means it fired late.
      if (!first) {
        EXPECT_GT(e->deadline_ms, previous) << "fired late";
      }
      EXPECT_EQ(e->level, -1);
      fired_deadlines.push_back(e->deadline_ms);
      ++fired;
    });
    first = false;
  }
  EXPECT_EQ(fired, entries.size() - (entries.size() + 2) / 3);
  // Exactly the entries that were not cancelled fired.
  std::vector<uint64_t> expected;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (i % 3 != 0) expected.push_back(entries[i].deadline_ms);
  }
  std::sort(expected.begin(), expected.end());
  std::sort(fired_deadlines.begin(), fired_deadlines.end());
  EXPECT_EQ(fired_deadlines, expected);
}

TEST(TimerWheelTest, AdvanceFiresOnlyWhatIsDue) {
  TimerWheel wheel;
  TimerEntry a, b, c;
  a.deadline_ms = 10;
  b.deadline_ms = 100;
  c.deadline_ms = 5000;
  wheel.Insert(&c);
  wheel.Insert(&a);
  wheel.Insert(&b);
  EXPECT_EQ(wheel.NextExpiration(), 10u);
  std::vector<TimerEntry*> fired;
  auto collect = [&](TimerEntry* e) { fired.push_back(e); };
  wheel.Advance(9, collect);
  EXPECT_TRUE(fired.empty());
  wheel.Advance(10, collect);
  EXPECT_EQ(fired, std::vector<TimerEntry*>{&a});
  wheel.Advance(4999, collect);
  EXPECT_EQ(fired, (std::vector<TimerEntry*>{&a, &b}));
  wheel.Remove(&c);
  EXPECT_TRUE(wheel.empty());
  EXPECT_FALSE(wheel.NextExpiration().has_value());
}

TEST(TimerWheelTest, PastDeadlineFiresAtNextAdvance) {
  TimerWheel wheel;
  wheel.Advance(1000, [](TimerEntry*) {});
  TimerEntry late;
  late.deadline_ms = 3;
  wheel.Insert(&late);
  EXPECT_EQ(wheel.NextExpiration(), 1000u);
  int fired = 0;
  wheel.Advance(1000, [&](TimerEntry*) { ++fired; });
  EXPECT_EQ(fired, 1);
}

}  // namespace
}  // namespace tidepool::internal
