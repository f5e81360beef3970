#ifndef TIDEPOOL_RUNTIME_INTERNAL_OUTSIDE_WAKES_H_
#define TIDEPOOL_RUNTIME_INTERNAL_OUTSIDE_WAKES_H_

#include <cstdint>

namespace tidepool::internal {

// Wakes made outside a task's runtime, and that runtime's destruction.
//
// A wake (or abort) made on a thread that is not one of the task's runtime's
// workers (a program thread sending on a channel, a blocking-pool thread, a
// worker of another runtime) may find the task alive, and then, before it
// has queued the task and woken a worker, find the runtime freed under it:
// the runtime's owner can shut it down and destroy it in between. So such a
// wake runs inside an OutsideWakeScope, from before it looks at the task's
// state until it is done with the runtime; and a runtime, once every one of
// its tasks has completed, calls WaitForOutsideWakes() before it may be
// freed. A scope that began before that call may have seen a task alive,
// and the call waits for it to end; a scope that begins after it finds
// every task of that runtime complete, so its wake does nothing.
//
// Process-wide, because the runtime may already be gone when a scope
// begins. Scopes count in one of two slots, picked by an epoch. A waiter
// moves the epoch, waits for the slot new scopes no longer enter to empty,
// then does the same for the other: so a steady stream of new outside wakes
// cannot hold it off, and it waits for every scope begun before it, in
// whichever slot.
//
// Cost: two atomic read-modify-writes on process-wide counters per outside
// wake (a worker waking a task of its own runtime takes no scope); waiting
// costs the waiter the length of the longest scope in flight, microseconds.

class OutsideWakeScope {
 public:
  OutsideWakeScope();
  ~OutsideWakeScope();
  OutsideWakeScope(const OutsideWakeScope&) = delete;
  OutsideWakeScope& operator=(const OutsideWakeScope&) = delete;

 private:
  uint32_t slot_;
};

// Returns once every OutsideWakeScope that began before the call has ended.
// Any thread but one inside a scope (it would wait for itself). Callers
// serialize on a process-wide mutex.
void WaitForOutsideWakes();

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_INTERNAL_OUTSIDE_WAKES_H_
