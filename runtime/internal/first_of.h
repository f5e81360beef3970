#ifndef TIDEPOOL_RUNTIME_INTERNAL_FIRST_OF_H_
#define TIDEPOOL_RUNTIME_INTERNAL_FIRST_OF_H_

#include <coroutine>
#include <utility>

#include "runtime/internal/context.h"
#include "runtime/internal/mutex.h"
#include "runtime/internal/task_header.h"

namespace tidepool::internal {

// A race between branches (spawned tasks) with one waiting task: the first
// branch to call Finish() wins and wakes the waiter, exactly once; later
// calls do nothing. That exactly-once wake-up is what lets timeout() and
// select() wait on several sources without a stale wake-up resuming the
// waiter at some later, unrelated suspension. Shared by the branches and
// the waiter through a shared_ptr; any thread may call Finish().
class FirstOf {
 public:
  // Returns true if `branch` won.
  bool Finish(int branch) {
    TaskHeader* waiter;
    {
      MutexLock lock(&mu_);
      if (winner_ >= 0) return false;
      winner_ = branch;
      waiter = std::exchange(waiter_, nullptr);
    }
    if (waiter != nullptr) {
      waiter->Wake();
      waiter->Unref();
    }
    return true;
  }

  int winner() {
    MutexLock lock(&mu_);
    return winner_;
  }

  class Awaiter {
   public:
    explicit Awaiter(FirstOf* race) : race_(race) {}
    Awaiter(const Awaiter&) = delete;
    Awaiter& operator=(const Awaiter&) = delete;
    // Withdraws if the waiting task is destroyed before any branch won.
    ~Awaiter() {
      TaskHeader* mine;
      {
        MutexLock lock(&race_->mu_);
        mine = race_->waiter_ == self_ ? std::exchange(race_->waiter_, nullptr)
                                       : nullptr;
      }
      if (mine != nullptr) mine->Unref();
    }
    bool await_ready() { return race_->winner() >= 0; }
    bool await_suspend(std::coroutine_handle<> awaiting) {
      TaskHeader* self = SuspendCurrentTask(awaiting);
      MutexLock lock(&race_->mu_);
      if (race_->winner_ >= 0) return false;
      self->Ref();
      race_->waiter_ = self_ = self;
      return true;
    }
    int await_resume() { return race_->winner(); }

   private:
    FirstOf* race_;
    TaskHeader* self_ = nullptr;
  };

  // Resolves to the winning branch's index.
  Awaiter Wait() { return Awaiter(this); }

 private:
  Mutex mu_;
  int winner_ ABSL_GUARDED_BY(mu_) = -1;
  TaskHeader* waiter_ ABSL_GUARDED_BY(mu_) = nullptr;  // holds a reference
};

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_INTERNAL_FIRST_OF_H_
