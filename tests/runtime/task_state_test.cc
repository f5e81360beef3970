#include "runtime/internal/task_state.h"

#include <atomic>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/util/test_util.h"

// The task lifecycle's transitions, taken in every order that matters.
//
// Each transition is linearizable (one atomic read-modify-write, or a CAS
// loop that retries on interference, which ends as if it ran before or
// after the interfering one), so the outcomes of two threads racing are
// exactly the outcomes of the sequential interleavings of their
// transitions. The first tests enumerate all of those interleavings
// deterministically; the last runs the same scripts on two real threads,
// for the retry paths and for ThreadSanitizer.

namespace tidepool::internal {
namespace {

using Claim = TaskState::Claim;
using AfterPoll = TaskState::AfterPoll;
using CancelClaim = TaskState::CancelClaim;

// Calls `run` with every merge of `a` steps of actor 0 and `b` steps of
// actor 1 that keeps each actor's own order.
void ForEachInterleaving(
    int a, int b, const std::function<void(const std::vector<int>&)>& run) {
  std::vector<int> order;
  std::function<void(int, int)> rec = [&](int left_a, int left_b) {
    if (left_a == 0 && left_b == 0) {
      run(order);
      return;
    }
    if (left_a > 0) {
      order.push_back(0);
      rec(left_a - 1, left_b);
      order.pop_back();
    }
    if (left_b > 0) {
      order.push_back(1);
      rec(left_a, left_b - 1);
      order.pop_back();
    }
  };
  rec(a, b);
}

// A task that was spawned (queued, with the queue's and the list's
// references).
struct Queued {
  TaskState state{2};
  Queued() { state.SetScheduledUnshared(); }
};

// A worker polls the task, or (`with_yield`) polls it, yields, pops it and
// polls it again; a waker wakes it once. Every wake-up is followed by a
// poll (it came before the last poll started, or the waker schedules the
// task, or the worker requeues it), and never by two queue entries. A
// yield requeues the task still running, so a wake-up during it is
// absorbed by the next poll. Returns how many interleavings it checked.
int CheckWakeUpsAgainstPolls(bool with_yield) {
  int orders = 0;
  ForEachInterleaving(
      with_yield ? 4 : 2, 1, [&](const std::vector<int>& order) {
        Queued t;
        int step = 0, time = 0, last_claim_at = -1, woken_at = -1;
        bool waker_schedules = false;
        AfterPoll after = AfterPoll::kIdle;
        for (int actor : order) {
          ++time;
          if (actor == 1) {
            waker_schedules = t.state.TransitionToNotified();
            woken_at = time;
          } else if (step % 2 == 0) {
            ASSERT_EQ(t.state.TransitionToRunning(), Claim::kPoll);
            last_claim_at = time;
            ++step;
          } else {
            const bool yielded = with_yield && step == 1;
            after = t.state.TransitionToIdle(yielded);
            if (yielded) ASSERT_EQ(after, AfterPoll::kRequeue);
            ++step;
          }
        }
        const bool requeued = after == AfterPoll::kRequeue;
        EXPECT_FALSE(waker_schedules && requeued) << "queued twice";
        EXPECT_TRUE(woken_at < last_claim_at || waker_schedules || requeued)
            << "wake-up lost";
        ++orders;
      });
  return orders;
}

TEST(TaskStateTest, AWakeUpIsNeverLostNorDoubled) {
  EXPECT_EQ(CheckWakeUpsAgainstPolls(/*with_yield=*/false), 3);
}

TEST(TaskStateTest, AWakeUpDuringAYieldIsAbsorbedByTheNextPoll) {
  EXPECT_EQ(CheckWakeUpsAgainstPolls(/*with_yield=*/true), 5);
}

// An abort meets a poll: the task is cancelled exactly once, by the worker
// (at the poll's start or end) or, for an idle task, by the worker the
// abort schedules it to.
TEST(TaskStateTest, AnAbortCancelsExactlyOnce) {
  int orders = 0;
  ForEachInterleaving(2, 1, [&](const std::vector<int>& order) {
    Queued t;
    int step = 0, cancels = 0;
    bool poll_skipped = false;
    for (int actor : order) {
      if (actor == 1) {
        if (t.state.TransitionToAborted(/*has_scheduler=*/true)) {
          // Scheduled for a worker to see the request.
          EXPECT_EQ(t.state.TransitionToRunning(), Claim::kCancel);
          ++cancels;
        }
      } else if (step++ == 0) {
        const Claim c = t.state.TransitionToRunning();
        if (c == Claim::kCancel) {
          ++cancels;
          poll_skipped = true;
        }
      } else if (!poll_skipped) {
        if (t.state.TransitionToIdle(false) == AfterPoll::kCancel) ++cancels;
      }
    }
    EXPECT_EQ(cancels, 1);
    EXPECT_TRUE(t.state.IsCancelRequested());
    ++orders;
  });
  EXPECT_EQ(orders, 3);
}

// A worker claims an aborted task suspended in an I/O operation: if the op
// is not done it leaves the task idle (TransitionToIdleCancelled) for the
// op's completion to schedule it, as Scheduler::CancelClaimed does. The op's
// completer marks the op done, then wakes the task. In every order the
// task is cancelled exactly once, and never left idle with nobody to
// schedule it.
TEST(TaskStateTest, ACancelledTaskLeftForItsOperationIsCancelledOnce) {
  int orders = 0;
  ForEachInterleaving(3, 2, [&](const std::vector<int>& order) {
    Queued t;
    // Queued: the worker that pops it sees the request.
    ASSERT_FALSE(t.state.TransitionToAborted(/*has_scheduler=*/true));
    bool op_done = false, scheduled = false, worker_finished = false;
    int worker_step = 0, completer_step = 0, cancels = 0;
    for (int actor : order) {
      if (actor == 1) {
        if (completer_step++ == 0) {
          op_done = true;
        } else {
          scheduled = t.state.TransitionToNotified();
        }
        continue;
      }
      if (worker_finished) continue;
      switch (worker_step++) {
        case 0:
          ASSERT_EQ(t.state.TransitionToRunning(), Claim::kCancel);
          break;
        case 1:  // the op is done: nothing holds the frame
          if (op_done) {
            ++cancels;
            worker_finished = true;
          }
          break;
        default:
          worker_finished = true;
          if (!t.state.TransitionToIdleCancelled()) {
            // Woken since the claim: only the completion wakes it here.
            ASSERT_TRUE(op_done);
            ++cancels;
          }
          break;
      }
    }
    if (scheduled) {
      EXPECT_EQ(t.state.TransitionToRunning(), Claim::kCancel);
      ++cancels;
    }
    EXPECT_EQ(cancels, 1);
    ++orders;
  });
  EXPECT_EQ(orders, 10);
}

// A canceller on another thread (CancelHere) meets a worker polling,
// yielding and popping the task again: at no moment do both own the frame,
// and whoever owns it last completes the task exactly once.
TEST(TaskStateTest, ACancellerAndAWorkerNeverOwnTheFrameTogether) {
  int orders = 0;
  // Worker: claim, yield, pop (claim again), end of poll. Canceller: three
  // attempts, stopping once it owns the frame or finds the task complete.
  ForEachInterleaving(4, 3, [&](const std::vector<int>& order) {
    Queued t;
    int owners = 0, completions = 0, worker_step = 0;
    bool worker_owns = false, worker_done = false, canceller_done = false;
    // One attempt of the canceller; it tries again while the worker polls.
    auto cancel_attempt = [&] {
      switch (t.state.TransitionToCancelClaimed()) {
        case CancelClaim::kClaimed:
          EXPECT_EQ(owners, 0) << "frame owned twice";
          // CancelNow(): destroys the frame and completes.
          t.state.TransitionToComplete();
          ++completions;
          canceller_done = true;
          break;
        case CancelClaim::kDone:
          canceller_done = true;
          break;
        case CancelClaim::kBusy:
          EXPECT_EQ(owners, 1) << "busy with nobody polling";
          break;
      }
    };
    for (int actor : order) {
      if (actor == 1) {
        if (!canceller_done) cancel_attempt();
        continue;
      }
      if (worker_done) continue;
      switch (worker_step++) {
        case 0:
        case 2: {
          const Claim c = t.state.TransitionToRunning();
          if (c == Claim::kNotOurs) {
            worker_done = true;  // drops the queue's reference only
            break;
          }
          ASSERT_EQ(owners, 0) << "frame owned twice";
          ++owners;
          worker_owns = true;
          if (c == Claim::kCancel) {
            t.state.TransitionToComplete();
            ++completions;
            --owners;
            worker_owns = false;
            worker_done = true;
          }
          break;
        }
        case 1:
        case 3: {
          ASSERT_TRUE(worker_owns);
          const bool yielded = worker_step == 2;
          const AfterPoll after = t.state.TransitionToIdle(yielded);
          --owners;
          worker_owns = false;
          if (after == AfterPoll::kCancel) {
            ++owners;  // CancelNow() on the worker
            t.state.TransitionToComplete();
            ++completions;
            --owners;
            worker_done = true;
          } else if (!yielded) {
            worker_done = true;
          }
          break;
        }
      }
    }
    // The worker has stopped: the canceller's next attempt must end it.
    if (!canceller_done) cancel_attempt();
    EXPECT_TRUE(canceller_done);
    EXPECT_TRUE(t.state.IsComplete());
    EXPECT_EQ(completions, 1);
    ++orders;
  });
  EXPECT_EQ(orders, 35);
}

// References: of several holders dropping theirs, exactly the last one is
// told to destroy the task, and completing with the drop counts as a drop.
TEST(TaskStateTest, OnlyTheLastReferenceDestroys) {
  TaskState s(3);
  s.Ref();
  EXPECT_FALSE(s.Unref(1));
  EXPECT_FALSE(s.Unref(2));
  EXPECT_TRUE(s.TransitionToCompleteAndUnref(1));
}

TEST(TaskStateDeathTest, DroppingAReferenceTwiceAborts) {
  EXPECT_DEATH(
      {
        TaskState s(1);
        (void)s.Unref(2);
      },
      "dropped twice");
}

// The first script above on two real threads, many times: the CAS loops'
// retry paths run, and ThreadSanitizer checks the orderings.
TEST(TaskStateTest, RacingWakeUpsAndPollsOnTwoThreads) {
  const int rounds = 2000 * tidepool::testing::StressScale();
  std::unique_ptr<Queued> t;
  // round: the worker's release publishes `t` for this round to the waker;
  // done: the waker's release publishes its answer back.
  std::atomic<int> round{0}, done{0};
  bool waker_schedules = false;
  int lost = 0, doubled = 0;
  std::thread waker([&] {
    for (int r = 1; r <= rounds; ++r) {
      while (round.load(std::memory_order_acquire) != r) {
      }
      waker_schedules = t->state.TransitionToNotified();
      done.store(r, std::memory_order_release);
    }
  });
  for (int r = 1; r <= rounds; ++r) {
    t = std::make_unique<Queued>();
    ASSERT_EQ(t->state.TransitionToRunning(), Claim::kPoll);
    round.store(r, std::memory_order_release);
    const AfterPoll after = t->state.TransitionToIdle(/*yielded=*/false);
    while (done.load(std::memory_order_acquire) != r) {
    }
    const bool requeued = after == AfterPoll::kRequeue;
    doubled += waker_schedules && requeued;
    lost += !waker_schedules && !requeued;
  }
  waker.join();
  EXPECT_EQ(lost, 0);
  EXPECT_EQ(doubled, 0);
}

}  // namespace
}  // namespace tidepool::internal
