#ifndef TIDEPOOL_RUNTIME_INTERNAL_LOCAL_QUEUE_H_
#define TIDEPOOL_RUNTIME_INTERNAL_LOCAL_QUEUE_H_

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "runtime/internal/task_header.h"

namespace tidepool::internal {

// A worker's bounded run queue: one producer (the owning worker), many
// consumers (the owner pops, idle workers steal half). FIFO for everyone, so
// a task that yields goes behind the others.
//
// head_ only grows and is advanced by CAS, which is how a consumer claims
// slots. tail_ is written only by the owner. A stealer reads the slots it
// wants before its CAS; because head_ never goes back, a successful CAS
// proves the owner could not have reused those slots meanwhile (the owner
// only writes slot t when t - head_ < kCapacity).
class LocalQueue {
 public:
  static constexpr uint32_t kCapacity = 256;

  // Owner only. Returns false when full; the caller moves work elsewhere.
  bool TryPush(TaskHeader* task) {
    // relaxed: only this thread writes tail_.
    const uint32_t tail = tail_.load(std::memory_order_relaxed);
    // acquire: pairs with the release of the head_ CAS in StealInto() and
    // PopBatch(): the thief's reads of a slot we may overwrite come first.
    const uint32_t head = head_.load(std::memory_order_acquire);
    if (tail - head >= kCapacity) return false;
    // relaxed: published by the release store of tail_ below.
    slots_[tail % kCapacity].store(task, std::memory_order_relaxed);
    // release: publishes the slot; pairs with the acquire load of tail_ in
    // StealInto().
    tail_.store(tail + 1, std::memory_order_release);
    return true;
  }

  // Owner only. Takes up to `max` tasks from the front, for the overflow path
  // (they go to the inject queue). Returns how many were written to `out`.
  size_t PopBatch(TaskHeader** out, size_t max) {
    // acquire: pairs with the release of a thief's head_ CAS in StealInto();
    // more than needed, as the slots read below are the owner's own writes.
    uint32_t head = head_.load(std::memory_order_acquire);
    while (true) {
      // relaxed (tail and slots): the owner reads what it wrote itself.
      const uint32_t tail = tail_.load(std::memory_order_relaxed);
      size_t n = tail - head;
      if (n > max) n = max;
      if (n == 0) return 0;
      for (size_t i = 0; i < n; ++i) {
        out[i] = slots_[(head + i) % kCapacity].load(std::memory_order_relaxed);
      }
      // acq_rel: acquire as the load above; release pairs with the acquire
      // load of head_ in TryPush(): our slot reads precede their reuse.
      if (head_.compare_exchange_weak(head, head + static_cast<uint32_t>(n),
                                      std::memory_order_acq_rel,
                                      std::memory_order_acquire)) {
        return n;
      }
    }
  }

  // Owner only.
  TaskHeader* Pop() {
    TaskHeader* task = nullptr;
    return PopBatch(&task, 1) == 1 ? task : nullptr;
  }

  // Any other worker. Moves about half of this queue into `dest` (which must
  // be the caller's own, empty queue) and returns one more task to run now,
  // or nullptr if there was nothing to take.
  TaskHeader* StealInto(LocalQueue& dest) {
    std::array<TaskHeader*, kCapacity / 2> taken;
    // acquire: pairs with the release of the head_ CAS that set it, whose
    // thread had read a tail at least that far, so the tail read next is
    // not behind it (as in Size()).
    uint32_t head = head_.load(std::memory_order_acquire);
    while (true) {
      // acquire: pairs with the release store of tail_ in TryPush(), so the
      // slots below tail are written.
      const uint32_t tail = tail_.load(std::memory_order_acquire);
      uint32_t n = tail - head;
      if (n > kCapacity) {  // head moved on since we read it
        // acquire: as the first load.
        head = head_.load(std::memory_order_acquire);
        continue;
      }
      if (n == 0) return nullptr;
      n -= n / 2;
      if (n > taken.size()) n = taken.size();
      // relaxed: the tail_ acquire above ordered the owner's writes; a slot
      // the owner rewrites meanwhile makes the CAS below fail.
      for (uint32_t i = 0; i < n; ++i) {
        taken[i] =
            slots_[(head + i) % kCapacity].load(std::memory_order_relaxed);
      }
      // acq_rel: release pairs with the acquire load of head_ in TryPush()
      // (our slot reads precede their reuse); acquire as the first load.
      if (head_.compare_exchange_weak(head, head + n, std::memory_order_acq_rel,
                                      std::memory_order_acquire)) {
        for (uint32_t i = 1; i < n; ++i) dest.TryPush(taken[i]);
        return taken[0];
      }
    }
  }

  // Any thread; a racy hint used for parking decisions and metrics. Head
  // first, so pushes and pops between the two loads can only make the count
  // too high: read the other way, a push then a pop in between could show a
  // queue that never emptied as empty, and a worker would park beside work.
  // acquire on head: pairs with the release of the CAS that advanced head
  // (PopBatch(), StealInto()), whose thread had read a tail at least that
  // far, so the tail read next is not behind the head. acquire on tail:
  // pairs with TryPush(), though a count needs no data. The count may
  // exceed the capacity (many pushes and pops in between), hence the clamp.
  size_t Size() const {
    const uint32_t head = head_.load(std::memory_order_acquire);
    const uint32_t tail = tail_.load(std::memory_order_acquire);
    const uint32_t n = tail - head;
    return std::min<size_t>(n, kCapacity);
  }

 private:
  alignas(64) std::atomic<uint32_t> head_{0};
  alignas(64) std::atomic<uint32_t> tail_{0};
  std::array<std::atomic<TaskHeader*>, kCapacity> slots_{};
};

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_INTERNAL_LOCAL_QUEUE_H_
