// internal::BudgetAdmission on its own, one thread, driven sample by
// sample: the limit each band of in-use bytes sets, FIFO admission, the
// empty pool that always admits, and the counters.
#include "runtime/internal/budget_admission.h"

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"

namespace tidepool::internal {
namespace {

constexpr size_t kBudget = 1000;

// Distinct call handles; BudgetAdmission never dereferences them.
class Calls {
 public:
  TaskHeader* operator[](size_t i) {
    return reinterpret_cast<TaskHeader*>(&slots_[i]);
  }

 private:
  alignas(8) uint64_t slots_[16];
};

TEST(BudgetAdmissionTest, EachBandOfInUseBytesSetsTheLimit) {
  Calls call;
  BudgetAdmission a(kBudget, 0, /*cpus=*/1);  // far below: 2 * 0 + 1
  EXPECT_EQ(a.Metrics().limit, 1u);
  EXPECT_TRUE(a.TryAdmit(call[0]));
  EXPECT_FALSE(a.TryAdmit(call[1]));
  EXPECT_FALSE(a.TryAdmit(call[2]));

  a.OnSample(499);  // far below, 1 unfinished: 3
  EXPECT_EQ(a.Metrics().limit, 3u);
  EXPECT_EQ(a.AdmitWaiting(), call[1]);
  EXPECT_EQ(a.AdmitWaiting(), call[2]);
  EXPECT_EQ(a.AdmitWaiting(), nullptr);
  EXPECT_FALSE(a.TryAdmit(call[3]));

  a.OnSample(500);  // nearer, 3 unfinished: 4
  EXPECT_EQ(a.Metrics().limit, 4u);
  EXPECT_EQ(a.AdmitWaiting(), call[3]);
  EXPECT_FALSE(a.TryAdmit(call[4]));

  a.OnSample(875);  // just below: hold at 4, one in for each that ends
  EXPECT_EQ(a.Metrics().limit, 4u);
  EXPECT_EQ(a.AdmitWaiting(), nullptr);
  EXPECT_EQ(a.Finished(), call[4]);

  a.OnSample(1000);  // over: nothing until the pool is empty
  EXPECT_EQ(a.Metrics().limit, 0u);
  EXPECT_FALSE(a.TryAdmit(call[5]));
  EXPECT_FALSE(a.TryAdmit(call[6]));
  EXPECT_EQ(a.Finished(), nullptr);
  EXPECT_EQ(a.Finished(), nullptr);
  EXPECT_EQ(a.Finished(), nullptr);
  EXPECT_EQ(a.Finished(), call[5]);  // the pool emptied: the oldest goes
  EXPECT_EQ(a.Waiting(), 1u);
  EXPECT_EQ(a.Finished(), call[6]);
  EXPECT_EQ(a.Finished(), nullptr);
  EXPECT_TRUE(a.TryAdmit(call[7]));  // an empty pool admits at once
}

// Below the budget as many calls as CPUs may run, whatever the band says;
// over it still only an empty pool admits. Without the floor a pool that
// fell to one call would hold at one while memory stays just below the
// budget.
TEST(BudgetAdmissionTest, BelowTheBudgetAsManyCallsAsCpusMayRun) {
  Calls call;
  BudgetAdmission a(kBudget, 1000, /*cpus=*/2);  // over: 0
  EXPECT_EQ(a.Metrics().limit, 0u);
  EXPECT_TRUE(a.TryAdmit(call[0]));  // an empty pool admits
  EXPECT_FALSE(a.TryAdmit(call[1]));
  EXPECT_FALSE(a.TryAdmit(call[2]));

  a.OnSample(900);  // just below, 1 unfinished: max(1, 2)
  EXPECT_EQ(a.Metrics().limit, 2u);
  EXPECT_EQ(a.AdmitWaiting(), call[1]);
  EXPECT_EQ(a.AdmitWaiting(), nullptr);
  EXPECT_EQ(a.Finished(), call[2]);  // one in for each that ends
  EXPECT_FALSE(a.TryAdmit(call[3]));

  a.OnSample(600);  // nearer, 2 unfinished: max(3, 2)
  EXPECT_EQ(a.Metrics().limit, 3u);
  EXPECT_EQ(a.AdmitWaiting(), call[3]);

  a.OnSample(1000);  // over again: nothing until the pool is empty
  EXPECT_EQ(a.Metrics().limit, 0u);
  EXPECT_FALSE(a.TryAdmit(call[4]));
  EXPECT_EQ(a.Finished(), nullptr);
  EXPECT_EQ(a.Finished(), nullptr);
  EXPECT_EQ(a.Finished(), call[4]);

  BudgetAdmission far(kBudget, 0, /*cpus=*/4);  // far below: max(1, 4)
  EXPECT_EQ(far.Metrics().limit, 4u);
  BudgetAdmission none(kBudget, 0, /*cpus=*/0);  // counts as 1
  EXPECT_EQ(none.Metrics().limit, 1u);
}

TEST(BudgetAdmissionTest, ACallArrivingWhileOthersWaitQueuesBehindThem) {
  Calls call;
  BudgetAdmission a(kBudget, 2000, /*cpus=*/1);
  EXPECT_TRUE(a.TryAdmit(call[0]));
  EXPECT_FALSE(a.TryAdmit(call[1]));
  a.OnSample(0);  // room for 3, but call[1] is first in line
  EXPECT_FALSE(a.TryAdmit(call[2]));
  EXPECT_EQ(a.AdmitWaiting(), call[1]);
  EXPECT_EQ(a.AdmitWaiting(), call[2]);
}

TEST(BudgetAdmissionTest, AFailedSampleKeepsTheLimit) {
  BudgetAdmission a(kBudget, 2000, /*cpus=*/1);
  a.OnSample(-1);
  EXPECT_EQ(a.Metrics().limit, 0u);
  EXPECT_EQ(a.Metrics().in_use, 2000);
  EXPECT_EQ(a.Metrics().samples, 2u);
}

TEST(BudgetAdmissionTest, PressureAndCounters) {
  Calls call;
  BudgetAdmission a(kBudget, 749, /*cpus=*/1);
  EXPECT_FALSE(a.UnderPressure());
  a.OnSample(750);
  EXPECT_TRUE(a.UnderPressure());
  EXPECT_TRUE(a.TryAdmit(call[0]));
  EXPECT_FALSE(a.TryAdmit(call[1]));
  a.CountTrim();
  EXPECT_EQ(a.Finished(), call[1]);
  const MemoryBudgetMetrics m = a.Metrics();
  EXPECT_EQ(m.budget, kBudget);
  EXPECT_EQ(m.in_use, 750);
  EXPECT_DOUBLE_EQ(m.pressure, 0.75);
  EXPECT_EQ(m.waited, 1u);
  EXPECT_EQ(m.waiting, 0u);
  EXPECT_EQ(m.samples, 2u);
  EXPECT_EQ(m.trims, 1u);
}

TEST(BudgetAdmissionTest, SamplesFromFinishingCallsAreSpacedOut) {
  BudgetAdmission a(kBudget, 0, /*cpus=*/1);
  const auto t0 = BudgetAdmission::Clock::now();
  EXPECT_FALSE(a.SampleDue(t0));
  const auto later = t0 + BudgetAdmission::kBusySamplePeriod;
  EXPECT_TRUE(a.SampleDue(later));
  a.BeginSample(later);
  EXPECT_FALSE(a.SampleDue(later));
}

TEST(BudgetAdmissionTest, ASlowSampleSpacesTheNextOnesOut) {
  BudgetAdmission a(kBudget, 0, /*cpus=*/1);
  EXPECT_EQ(a.WatchPeriod(), BudgetAdmission::kWatchPeriod);
  const auto t0 = BudgetAdmission::Clock::now();
  a.BeginSample(t0);
  a.OnSample(0, std::chrono::milliseconds(1));
  EXPECT_EQ(a.WatchPeriod(), std::chrono::milliseconds(50));
  EXPECT_FALSE(a.SampleDue(t0 + std::chrono::milliseconds(49)));
  EXPECT_TRUE(a.SampleDue(t0 + std::chrono::milliseconds(50)));
  a.OnSample(0, std::chrono::microseconds(1));
  EXPECT_EQ(a.WatchPeriod(), BudgetAdmission::kWatchPeriod);
  EXPECT_TRUE(a.SampleDue(t0 + BudgetAdmission::kBusySamplePeriod));
}

TEST(BudgetAdmissionTest, TakeWaitingHandsBackEveryWaitingCall) {
  Calls call;
  BudgetAdmission a(kBudget, 2000, /*cpus=*/1);
  EXPECT_TRUE(a.TryAdmit(call[0]));
  EXPECT_FALSE(a.TryAdmit(call[1]));
  EXPECT_FALSE(a.TryAdmit(call[2]));
  const std::deque<TaskHeader*> held = a.TakeWaiting();
  EXPECT_EQ(held, (std::deque<TaskHeader*>{call[1], call[2]}));
  EXPECT_FALSE(a.HasWaiting());
}

}  // namespace
}  // namespace tidepool::internal
