#ifndef TIDEPOOL_RUNTIME_INTERNAL_LIFO_SLOT_H_
#define TIDEPOOL_RUNTIME_INTERNAL_LIFO_SLOT_H_

#include <atomic>
#include <thread>

#include "runtime/internal/asymmetric_fence.h"
#include "runtime/internal/cpu_relax.h"

namespace tidepool::internal {

class TaskHeader;

// A worker's LIFO slot: the task its running task spawned or woke last,
// which the worker runs next. It holds that task's queue reference.
//
// The owner (the worker's thread) puts and takes with plain loads and
// stores and a compiler-only fence: a slot access costs about what a plain
// pointer would. One other thread at a time, the monitor (monitor.h), may
// take the task when the owner is stuck in a long poll, so that a child
// does not wait for its parent's poll to end (tokio#4941). The two sides
// exclude each other with an asymmetric Dekker protocol: each raises its
// flag, fences, and checks the other's flag; the owner's fence is
// LightFence(), the thief's HeavyFence() (asymmetric_fence.h), which makes
// the owner's fence a full one whenever it matters. A thief that finds the
// owner inside an access backs off; an owner that finds a thief waits for
// it, which takes the thief a few loads; the thief never waits.
class LifoSlot {
 public:
  // Owner only. Puts `task` in; returns the task it displaced, or null.
  TaskHeader* Put(TaskHeader* task) {
    Enter();
    // relaxed load: only the owner stores a task; the thief's stores of null
    // are ordered before us by Enter()'s acquire. release store: pairs with
    // the thief's acquire load in Steal(), which then sees the task whole.
    TaskHeader* displaced = task_.load(std::memory_order_relaxed);
    task_.store(task, std::memory_order_release);
    Exit();
    return displaced;
  }

  // Owner only. Takes the task out; null if the slot is empty.
  TaskHeader* Take() {
    // relaxed: an empty slot stays empty until the owner fills it, so the
    // common empty case needs no protocol.
    if (task_.load(std::memory_order_relaxed) == nullptr) return nullptr;
    Enter();
    TaskHeader* task = task_.load(std::memory_order_relaxed);
    task_.store(nullptr, std::memory_order_relaxed);
    Exit();
    return task;
  }

  // Owner only: a hint (a thief may empty the slot right after).
  bool empty() const {
    // relaxed: see Take().
    return task_.load(std::memory_order_relaxed) == nullptr;
  }

  // Any thread: which task the slot holds now, only to compare with a
  // later Peek(); never to be dereferenced.
  const void* Peek() const {
    // relaxed: an identity, not a publication. The monitor's Peek() after
    // its HeavyFence() sees a Put() made before the owner's LightFence()
    // (scheduler.cc, Schedule() and Scan()).
    return task_.load(std::memory_order_relaxed);
  }

  // One thief thread at a time, only when HeavyFenceAvailable(). Takes the
  // task (and its queue reference) if the slot still holds `seen` and the
  // owner is not inside Put() or Take(); otherwise returns null.
  TaskHeader* Steal(const void* seen) {
    // relaxed: a pre-check only (the decision is made after the fence), so
    // that a thief that tries again and again cannot keep an owner waiting
    // in Enter(): once the owner's flag is up, no new thief raises its own.
    if (owner_.load(std::memory_order_relaxed)) return nullptr;
    // relaxed store, then the heavy fence: the thief's half of the
    // protocol (the fence orders the store before the load below, and
    // against the owner's LightFence()).
    thief_.store(true, std::memory_order_relaxed);
    HeavyFence();
    TaskHeader* task = nullptr;
    // acquire: pairs with the release in Exit(); we then see the slot as
    // the owner's last access left it.
    if (!owner_.load(std::memory_order_acquire)) {
      // acquire: pairs with the release store in Put().
      TaskHeader* held = task_.load(std::memory_order_acquire);
      if (held != nullptr && held == seen) {
        task_.store(nullptr, std::memory_order_relaxed);
        task = held;
      }
    }
    // release: pairs with the acquire loads in Enter(); an owner that waited
    // for us sees the emptied slot.
    thief_.store(false, std::memory_order_release);
    return task;
  }

 private:
  void Enter() {
    // relaxed store, compiler fence, then the load: the owner's half of the
    // protocol; HeavyFence() in a Steal() makes the fence a full one
    // (asymmetric_fence.h). The flag stays up while we wait: a thief that
    // comes meanwhile sees it and backs off, so only one already past its
    // check can hold us, for a few loads and stores.
    owner_.store(true, std::memory_order_relaxed);
    LightFence();
    // acquire: pairs with the release store at the end of Steal(). A thief
    // holds the slot for a few loads and stores, unless its thread is
    // descheduled meanwhile: then give the CPU up rather than spin a slice.
    for (int spins = 0; thief_.load(std::memory_order_acquire); ++spins) {
      if (spins < 64) {
        CpuRelax();
      } else {
        std::this_thread::yield();
      }
    }
  }
  void Exit() {
    // release: pairs with the thief's acquire load in Steal(), which then
    // sees our stores to task_.
    owner_.store(false, std::memory_order_release);
  }

  std::atomic<TaskHeader*> task_{nullptr};
  // The owner is inside Put() or Take().
  std::atomic<bool> owner_{false};
  // A thief is inside Steal().
  std::atomic<bool> thief_{false};
};

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_INTERNAL_LIFO_SLOT_H_
