#ifndef TIDEPOOL_RUNTIME_INTERNAL_TASK_CELL_H_
#define TIDEPOOL_RUNTIME_INTERNAL_TASK_CELL_H_

#include <atomic>
#include <coroutine>
#include <exception>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <variant>

#include "runtime/internal/block_cache.h"
#include "runtime/internal/task_end_listeners.h"
#include "runtime/internal/task_header.h"
#include "runtime/internal/unhandled_sink.h"
#include "runtime/task.h"
#include "runtime/task_cancelled.h"

namespace tidepool::internal {

// Result storage shared by a task and its JoinHandle. Written only by the
// task's owner before Complete(); read only after IsComplete() or a join
// wake-up, which order the accesses. Two tasks awaiting one handle at once
// (a misuse) may both find it complete on two workers: taken_ picks the one
// that gets the result, the other gets std::logic_error. An exception nobody
// took by the time the last reference goes is reported to the runtime's sink
// (unhandled_exception.h).
template <typename T>
class JoinState : public TaskHeader {
 public:
  JoinState(Scheduler* scheduler, uint32_t initial_refs, uint32_t runtime_id)
      : TaskHeader(scheduler, initial_refs), runtime_id_(runtime_id) {}

  // Moves the result out, rethrowing the task's exception or TaskCancelled.
  T TakeResult() {
    // relaxed: only picks one of racing takers; the result itself is ordered
    // by IsComplete() or the join wake-up, and the loser never touches it.
    if (taken_.exchange(true, std::memory_order_relaxed)) {
      throw std::logic_error("tidepool: JoinHandle awaited twice");
    }
    if (error_) std::rethrow_exception(error_);
    if constexpr (!std::is_void_v<T>) return std::move(*value_);
  }

 protected:
  template <typename F>
  void StoreResultOf(F&& produce) {
    try {
      if constexpr (std::is_void_v<T>) {
        produce();
        value_.emplace();
      } else {
        value_.emplace(produce());
      }
    } catch (...) {
      error_ = std::current_exception();
    }
  }

  void StoreCancelled() override {
    error_ = std::make_exception_ptr(TaskCancelled());
    cancelled_ = true;
  }

  ~JoinState() override {
    // relaxed: the last reference's release, which runs this, orders it
    // after every TakeResult().
    if (error_ && !taken_.load(std::memory_order_relaxed) && !cancelled_) {
      ReportUnhandled(runtime_id_, std::move(error_), this->id(),
                      this->scheduler() == nullptr);
    }
  }

 private:
  using Stored = std::conditional_t<std::is_void_v<T>, std::monostate, T>;
  // In this order the small fields share a word with a void task's value_,
  // so that CoroTask<void> fills two cache lines exactly.
  std::optional<Stored> value_;
  std::atomic<bool> taken_{false};
  bool cancelled_ = false;  // error_ is the TaskCancelled of an abort
  const uint32_t runtime_id_;
  std::exception_ptr error_;
};

// A spawned coroutine. The frame is destroyed as soon as the task finishes
// (its locals and parameters go at once); the cell normally lives in the
// same block, in front of the frame (FrameLayout in task.h), so the block
// is freed with the cell, when the last reference goes.
template <typename T>
class CoroTask final : public JoinState<T> {
 public:
  // Three references: the owned-task list, the JoinHandle, the run queue.
  static CoroTask* Create(Scheduler* scheduler, uint32_t runtime_id,
                          Task<T> task) {
    std::coroutine_handle<Promise<T>> root = TaskAccess<T>::Release(task);
    FrameTail* tail = FrameLayout<T>::TailOf(root.address());
    if (tail->magic != FrameTail::kMagic) {
      // Not a frame laid out by FrameLayout: a block of its own. Out of
      // memory, the frame (released from `task` above) goes with the throw.
      try {
        return new CoroTask(scheduler, runtime_id, root, nullptr);
      } catch (...) {
        root.destroy();
        throw;
      }
    }
    tail->hosts_cell = true;
    // ::new: placement, not the class's own operator new.
    return ::new (FrameLayout<T>::BlockOf(root.address()))
        CoroTask(scheduler, runtime_id, root, tail);
  }

  bool Poll() override {
    this->resume_point_.resume();
    if (!root_.done()) return false;
    this->StoreResultOf([this] { return root_.promise().TakeResult(); });
    DestroyFrame();
    return true;
  }

 protected:
  void DestroyFrame() override {
    if (!root_) return;
    std::exchange(root_, {}).destroy();
    if (this->IsTracked()) TaskFrameEnded(this->id());
  }

  void Destroy() override {
    if (tail_ == nullptr) {
      delete this;
      return;
    }
    // The tail sits outside this object and the frame, so it outlives both.
    FrameTail* const tail = tail_;
    this->~CoroTask();
    FrameLayout<T>::FreeBlock(tail + 1, tail->frame_size);
  }

 private:
  CoroTask(Scheduler* scheduler, uint32_t runtime_id,
           std::coroutine_handle<Promise<T>> root, FrameTail* tail)
      : JoinState<T>(scheduler, 3, runtime_id), root_(root), tail_(tail) {
    this->resume_point_ = root_;
  }
  ~CoroTask() override { DestroyFrame(); }

  std::coroutine_handle<Promise<T>> root_;
  // The frame's record when this cell lives in the frame's block, else null.
  FrameTail* const tail_;
};

// A function run on the blocking pool.
template <typename F>
class BlockingTask final : public JoinState<std::invoke_result_t<F&>> {
 public:
  // Two references: the JoinHandle and the pool's queue.
  // Copies or moves the callable, as passed.
  template <typename G>
  BlockingTask(uint32_t runtime_id, G&& f)
      : JoinState<std::invoke_result_t<F&>>(nullptr, 2, runtime_id),
        f_(std::forward<G>(f)) {}

  bool Poll() override {
    this->StoreResultOf([this] { return (*f_)(); });
    DestroyFrame();
    return true;
  }

 protected:
  // Frees what the function captured as soon as it has run.
  void DestroyFrame() override { f_.reset(); }

 private:
  ~BlockingTask() override = default;

  std::optional<F> f_;
};

// A spawned Task<void>'s cell, what fire-and-forget spawns allocate.
static_assert(sizeof(void*) != 8 || sizeof(CoroTask<void>) == 128,
              "a void task's cell outgrew two cache lines");

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_INTERNAL_TASK_CELL_H_
