// internal::BudgetPermits on its own, one thread, driven sample by sample
// and release by release: FIFO grants, the permit granted whenever none is
// held, calls waiting go first, how the limit grows, the cap the
// per-permit estimate sets, withdrawal, counters.
#include "runtime/internal/budget_permits.h"

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"

namespace tidepool::internal {
namespace {

constexpr size_t kBudget = 1000;

// Distinct task handles; BudgetPermits never dereferences them.
class Tasks {
 public:
  TaskHeader* operator[](size_t i) {
    return reinterpret_cast<TaskHeader*>(&slots_[i]);
  }

 private:
  alignas(8) uint64_t slots_[16];
};

// Takes permits for tasks [from, to), each of which must be granted at once.
void AcquireAtOnce(BudgetPermits& p, PermitWaiter* w, Tasks& task, int from,
                   int to) {
  for (int i = from; i < to; ++i) {
    EXPECT_TRUE(p.Acquire(&w[i], task[i], false)) << "task " << i;
  }
}

std::vector<TaskHeader*> Grant(BudgetPermits& p, bool calls_waiting = false) {
  BudgetPermits::Granted out;
  p.Grant(calls_waiting, &out);
  return std::vector<TaskHeader*>(out.begin(), out.end());
}

TEST(BudgetPermitsTest, FirstLimitIsTheCpuCountThenFifo) {
  Tasks task;
  PermitWaiter w[4];
  BudgetPermits p(kBudget, 0, /*cpus=*/2);
  EXPECT_TRUE(p.Acquire(&w[0], task[0], false));
  EXPECT_TRUE(p.Acquire(&w[1], task[1], false));
  EXPECT_FALSE(p.Acquire(&w[2], task[2], false));
  EXPECT_FALSE(p.Acquire(&w[3], task[3], false));
  EXPECT_TRUE(p.HasWaiting());
  EXPECT_TRUE(Grant(p).empty());
  p.Release();  // at the limit, under half the budget: it grows to 3
  EXPECT_EQ(Grant(p), (std::vector<TaskHeader*>{task[2], task[3]}));
  EXPECT_TRUE(w[2].granted);
  EXPECT_FALSE(w[2].linked);
  EXPECT_FALSE(p.HasWaiting());
  MemoryBudgetMetrics m;
  p.AddMetrics(&m);
  EXPECT_EQ(m.permits_held, 3u);
  EXPECT_EQ(m.permit_limit, 3u);
  EXPECT_EQ(m.permits_granted, 4u);
  EXPECT_EQ(m.permits_waited, 2u);
  EXPECT_EQ(m.permits_waiting, 0u);
}

TEST(BudgetPermitsTest, ArrivalsQueueBehindWaitersEvenWithRoom) {
  Tasks task;
  PermitWaiter w[3];
  BudgetPermits p(kBudget, 0, 1);
  EXPECT_TRUE(p.Acquire(&w[0], task[0], false));
  EXPECT_FALSE(p.Acquire(&w[1], task[1], false));
  p.OnSample(100);
  p.Release();  // at the limit, far below: the limit grows to 2
  // Room for two now, but task[1] came first.
  EXPECT_FALSE(p.Acquire(&w[2], task[2], false));
  EXPECT_EQ(Grant(p), (std::vector<TaskHeader*>{task[1], task[2]}));
}

TEST(BudgetPermitsTest, WithNoneHeldTheOldestIsGrantedOverTheBudget) {
  Tasks task;
  PermitWaiter w[3];
  BudgetPermits p(kBudget, 0, 1);
  p.OnSample(5000);  // far over, and memory held outside permits
  EXPECT_TRUE(p.Acquire(&w[0], task[0], false));  // none held
  EXPECT_FALSE(p.Acquire(&w[1], task[1], false));
  EXPECT_FALSE(p.Acquire(&w[2], task[2], false));
  p.OnSample(5000);  // one held accounts for all of it: the cap is 1
  EXPECT_TRUE(Grant(p).empty());
  p.Release();
  EXPECT_EQ(Grant(p), std::vector<TaskHeader*>{task[1]});
  p.Release();
  EXPECT_EQ(Grant(p), std::vector<TaskHeader*>{task[2]});
}

TEST(BudgetPermitsTest, CallsWaitingForAdmissionGoFirst) {
  Tasks task;
  PermitWaiter w[2];
  BudgetPermits p(kBudget, 0, 4);
  EXPECT_TRUE(p.Acquire(&w[0], task[0], /*calls_waiting=*/true));  // none held
  EXPECT_FALSE(p.Acquire(&w[1], task[1], true));
  EXPECT_TRUE(Grant(p, /*calls_waiting=*/true).empty());
  EXPECT_EQ(Grant(p, false), std::vector<TaskHeader*>{task[1]});
}

TEST(BudgetPermitsTest, TheLimitGrowsOnlyWhenReachedAndSlowerNearTheBudget) {
  Tasks task;
  PermitWaiter w[4];
  MemoryBudgetMetrics m;
  // Samples with none held: bands only, no estimate.
  BudgetPermits far(kBudget, 0, 2);
  far.OnSample(100);
  // Not reached: giving a permit back leaves the limit alone.
  EXPECT_TRUE(far.Acquire(&w[0], task[0], false));
  far.Release();
  far.AddMetrics(&m);
  EXPECT_EQ(m.permit_limit, 2u);
  // Reached, under half the budget: one more per permit given back at it.
  EXPECT_TRUE(far.Acquire(&w[0], task[0], false));
  EXPECT_TRUE(far.Acquire(&w[1], task[1], false));
  far.Release();
  far.AddMetrics(&m);
  EXPECT_EQ(m.permit_limit, 3u);
  EXPECT_TRUE(far.Acquire(&w[1], task[1], false));
  EXPECT_TRUE(far.Acquire(&w[2], task[2], false));
  far.Release();
  far.Release();  // 2 held of 4: not reached
  far.Release();
  far.AddMetrics(&m);
  EXPECT_EQ(m.permit_limit, 4u);

  // Between half and 7/8: one more per `limit` given back at the limit.
  BudgetPermits near(kBudget, 0, 2);
  near.OnSample(600);
  for (int round = 0; round < 2; ++round) {
    EXPECT_TRUE(near.Acquire(&w[0], task[0], false));
    EXPECT_TRUE(near.Acquire(&w[1], task[1], false));
    near.Release();  // at the limit: counts
    near.Release();  // below it: does not
  }
  near.AddMetrics(&m);
  EXPECT_EQ(m.permit_limit, 3u);
  // From 7/8 on it holds.
  near.OnSample(900);
  for (int round = 0; round < 4; ++round) {
    AcquireAtOnce(near, w, task, 0, 3);
    for (int i = 0; i < 3; ++i) near.Release();
  }
  near.AddMetrics(&m);
  EXPECT_EQ(m.permit_limit, 3u);
}

TEST(BudgetPermitsTest, TheEstimatePerPermitCapsTheLimit) {
  Tasks task;
  PermitWaiter w[16];
  BudgetPermits p(kBudget, /*first_sample=*/100, 8);
  AcquireAtOnce(p, w, task, 0, 4);
  // 4 held, 200 above the base: 50 each; 5/8 of the budget less the base
  // is 525, room for 10.
  p.OnSample(300);
  MemoryBudgetMetrics m;
  p.AddMetrics(&m);
  EXPECT_EQ(m.permit_limit, 8u);
  AcquireAtOnce(p, w, task, 4, 8);
  // 8 held and a sample showing 100 each: room for 5, so the limit drops
  // to 5 and no permit is granted until four come back.
  p.OnSample(900);
  p.AddMetrics(&m);
  EXPECT_EQ(m.permit_limit, 5u);
  EXPECT_FALSE(p.Acquire(&w[8], task[8], false));
  for (int i = 0; i < 3; ++i) {
    p.Release();
    EXPECT_TRUE(Grant(p).empty());
  }
  p.Release();
  EXPECT_EQ(Grant(p), std::vector<TaskHeader*>{task[8]});
  // Releases at the limit far below the budget do not grow it past the
  // cap.
  p.OnSample(150);
  for (int i = 0; i < 5; ++i) p.Release();
  p.AddMetrics(&m);
  EXPECT_LE(m.permit_limit, 5u);
}

TEST(BudgetPermitsTest, ACountHoldingTheFreePagesMayFillTheWholeBudget) {
  Tasks task;
  PermitWaiter w[8];
  MemoryBudgetMetrics m;
  // 8 held, 120 each: 5/8 of the budget fits 5.
  BudgetPermits share(kBudget, 0, 8);
  AcquireAtOnce(share, w, task, 0, 8);
  share.OnSample(960);
  share.AddMetrics(&m);
  EXPECT_EQ(m.permit_limit, 5u);
  // The whole budget fits 8 (7/8 would fit 7).
  BudgetPermits whole(kBudget, 0, 8, /*share_eighths=*/8);
  AcquireAtOnce(whole, w, task, 0, 8);
  whole.OnSample(960);
  whole.AddMetrics(&m);
  EXPECT_EQ(m.permit_limit, 8u);
}

TEST(BudgetPermitsTest, OnlyJemallocsCountTakesTheWholeBudget) {
  EXPECT_EQ(PermitShareEighths(alloc::Backend::kJemalloc), 8u);
  EXPECT_EQ(PermitShareEighths(alloc::Backend::kGlibc),
            BudgetPermits::kShareEighths);
  EXPECT_EQ(PermitShareEighths(alloc::Backend::kMimalloc),
            BudgetPermits::kShareEighths);
  EXPECT_EQ(PermitShareEighths(alloc::Backend::kUnknown),
            BudgetPermits::kShareEighths);
}

TEST(BudgetPermitsTest, ALowerSampleWithNoPermitHeldLowersTheBase) {
  Tasks task;
  PermitWaiter w[8];
  MemoryBudgetMetrics m;
  // Built at 400, of which 300 goes away before any permit is taken.
  BudgetPermits p(kBudget, /*first_sample=*/400, 8);
  p.OnSample(100);
  AcquireAtOnce(p, w, task, 0, 8);
  // 800 above the base of 100 over 8 permits: 100 each, and 525 fit 5. (A
  // base still at 400 would charge 62 each, and its 225 fit 3.)
  p.OnSample(900);
  p.AddMetrics(&m);
  EXPECT_EQ(m.permit_limit, 5u);
}

TEST(BudgetPermitsTest, OverTheBudgetTheLimitFallsBelowThePermitsHeld) {
  Tasks task;
  PermitWaiter w[16];
  BudgetPermits p(kBudget, 0, 16);
  AcquireAtOnce(p, w, task, 0, 16);
  // 1000 in use over 16 permits: 62 each, and 625 fit 10.
  p.OnSample(1000);
  MemoryBudgetMetrics m;
  p.AddMetrics(&m);
  EXPECT_EQ(m.permit_limit, 10u);
  EXPECT_FALSE(p.Acquire(&w[0], task[0], false));
  p.OnSample(-1);  // a failed sample changes nothing
  p.AddMetrics(&m);
  EXPECT_EQ(m.permit_limit, 10u);
  EXPECT_EQ(m.permits_waiting, 1u);
}

TEST(BudgetPermitsTest, TheLimitKeepsTwoPermitsWhateverTheEstimate) {
  Tasks task;
  PermitWaiter w[4];
  BudgetPermits p(kBudget, 0, 8);
  AcquireAtOnce(p, w, task, 0, 1);
  // One permit charged with twice the budget: the estimate fits none, but
  // a second permit is still granted.
  p.OnSample(2 * kBudget);
  MemoryBudgetMetrics m;
  p.AddMetrics(&m);
  EXPECT_EQ(m.permit_limit, 2u);
  EXPECT_TRUE(p.Acquire(&w[1], task[1], false));
  EXPECT_FALSE(p.Acquire(&w[2], task[2], false));
  // Releases at the floor, far over the budget, do not raise it.
  p.Release();
  EXPECT_EQ(Grant(p), std::vector<TaskHeader*>{task[2]});
  p.AddMetrics(&m);
  EXPECT_EQ(m.permit_limit, 2u);
}

TEST(BudgetPermitsTest, OnOneCpuTheFloorIsOnePermit) {
  Tasks task;
  PermitWaiter w[2];
  BudgetPermits p(kBudget, 0, 1);
  AcquireAtOnce(p, w, task, 0, 1);
  p.OnSample(2 * kBudget);
  MemoryBudgetMetrics m;
  p.AddMetrics(&m);
  EXPECT_EQ(m.permit_limit, 1u);
  EXPECT_FALSE(p.Acquire(&w[1], task[1], false));
}

TEST(BudgetPermitsTest,
     AWithdrawnWaiterLeavesAndAGrantedOneGivesItsPermitBack) {
  Tasks task;
  PermitWaiter w[3];
  BudgetPermits p(kBudget, 0, 1);
  EXPECT_TRUE(p.Acquire(&w[0], task[0], false));
  EXPECT_FALSE(p.Acquire(&w[1], task[1], false));
  EXPECT_FALSE(p.Acquire(&w[2], task[2], false));
  // Destroyed while queued: it leaves, handing back its task reference.
  EXPECT_EQ(p.Withdraw(&w[1]), task[1]);
  EXPECT_FALSE(w[1].linked);
  p.Release();
  EXPECT_EQ(Grant(p), std::vector<TaskHeader*>{task[2]});
  // Granted, then destroyed before it took the permit: the permit goes
  // back, so the next arrival gets one at once.
  EXPECT_EQ(p.Withdraw(&w[2]), nullptr);
  MemoryBudgetMetrics m;
  p.AddMetrics(&m);
  EXPECT_EQ(m.permits_held, 0u);
  EXPECT_EQ(m.permits_waiting, 0u);
  // Withdrawing a waiter that is neither queued nor granted does nothing.
  EXPECT_EQ(p.Withdraw(&w[2]), nullptr);
  p.AddMetrics(&m);
  EXPECT_EQ(m.permits_held, 0u);
}

}  // namespace
}  // namespace tidepool::internal
