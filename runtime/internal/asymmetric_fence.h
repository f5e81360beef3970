#ifndef TIDEPOOL_RUNTIME_INTERNAL_ASYMMETRIC_FENCE_H_
#define TIDEPOOL_RUNTIME_INTERNAL_ASYMMETRIC_FENCE_H_

#include <atomic>

namespace tidepool::internal {

// A store-load fence split into two halves of very different cost, for a
// protocol in which one side runs all the time and the other rarely (the
// LIFO slot's owner and the monitor that may take its task: lifo_slot.h).
//
// Each side stores, fences, then loads what the other side stored (store
// buffering). With LightFence() on the frequent side and HeavyFence() on
// the rare one, at least one side sees the other's store, as with two full
// fences. LightFence() costs nothing at run time: it only stops the
// compiler from moving memory accesses across it. HeavyFence() makes every
// running thread of the process execute a full memory barrier
// (membarrier(2), MEMBARRIER_CMD_PRIVATE_EXPEDITED, Linux 4.14): an
// interrupt to each CPU that runs one, some microseconds.

// Whether HeavyFence() works here: the kernel offers the expedited private
// membarrier and this process registered for it. Registers on the first
// call; thread-safe. False in kernels without it or where a seccomp filter
// refuses it.
bool HeavyFenceAvailable();

// Only after HeavyFenceAvailable() returned true.
void HeavyFence();

inline void LightFence() {
  std::atomic_signal_fence(std::memory_order_seq_cst);
}

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_INTERNAL_ASYMMETRIC_FENCE_H_
