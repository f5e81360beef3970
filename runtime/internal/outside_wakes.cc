#include "runtime/internal/outside_wakes.h"

#include <atomic>
#include <chrono>
#include <thread>

#include "runtime/internal/mutex.h"

namespace tidepool::internal {
namespace {

// The epoch and each slot sit on cache lines of their own: every outside
// wake in the process writes a slot, and a waiter's looks write them too.
//
// Parity picks the slot new scopes count in. Only waiters change it, under
// WaitersMutex().
alignas(64) std::atomic<uint32_t> g_epoch{0};
// Scopes in progress in one slot.
struct alignas(64) Slot {
  std::atomic<int64_t> scopes{0};
};
Slot g_slots[2];

// Never destroyed: a runtime may be shut down during static destruction.
Mutex& WaitersMutex() {
  static Mutex* mu = new Mutex;
  return *mu;
}

// Waits until `slot` holds no scope. Each look is a read-modify-write, not a
// load, so that it heads a release sequence: a scope that counts itself in
// the slot after the look that saw it empty reads from that sequence and so
// synchronizes with the waiter, whose tasks' completion it then sees (see
// OutsideWakeScope()). acq_rel: the acquire takes every write a scope made
// before it left (pairs with the release in ~OutsideWakeScope()). A scope
// lasts microseconds unless its thread lost its CPU, so the waiter yields a
// while, then sleeps, rather than keep a CPU that thread may need.
void WaitForSlot(Slot& slot) {
  for (int looks = 0; slot.scopes.fetch_add(0, std::memory_order_acq_rel) != 0;
       ++looks) {
    if (looks < 64) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  }
}

}  // namespace

OutsideWakeScope::OutsideWakeScope() {
  // relaxed: the slot only spreads scopes so that waiters see an end;
  // correctness comes from the count below, whichever slot it is in.
  slot_ = g_epoch.load(std::memory_order_relaxed) & 1;
  // acq_rel: the acquire synchronizes with a waiter's look at this slot
  // that came before this count (WaitForSlot), so this scope sees the tasks
  // that waiter's runtime completed and wakes none of them. A count before
  // the look makes the waiter wait for this scope's end instead.
  g_slots[slot_].scopes.fetch_add(1, std::memory_order_acq_rel);
}

OutsideWakeScope::~OutsideWakeScope() {
  // release: everything the wake did to the runtime happens before a
  // waiter that sees the slot empty goes on to free it (pairs with the
  // acquire in WaitForSlot()).
  g_slots[slot_].scopes.fetch_sub(1, std::memory_order_release);
}

void WaitForOutsideWakes() {
  MutexLock lock(&WaitersMutex());
  // Moving the epoch sends new scopes to the other slot, so that scopes
  // beginning meanwhile cannot hold a wait off. Both slots are waited for,
  // as a scope may have read the epoch long before and counted itself in
  // either.
  // relaxed: only waiters write it, under WaitersMutex().
  for (int i = 0; i < 2; ++i) {
    const uint32_t old = g_epoch.fetch_add(1, std::memory_order_relaxed) & 1;
    WaitForSlot(g_slots[old]);
  }
}

}  // namespace tidepool::internal
