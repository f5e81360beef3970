#include "runtime/internal/outside_wakes.h"

#include <atomic>
#include <thread>

#include "absl/base/const_init.h"
#include "absl/synchronization/mutex.h"

namespace tidepool::internal {
namespace {

// Parity picks the slot new scopes count in. Only waiters change it, under
// g_waiters.
std::atomic<uint32_t> g_epoch{0};
// Scopes in progress, per slot.
std::atomic<int64_t> g_in_scope[2];
absl::Mutex g_waiters(absl::kConstInit);

// Waits until `slot` holds no scope. Each look is a read-modify-write, not a
// load, so that it heads a release sequence: a scope that counts itself in
// the slot after the look that saw it empty reads from that sequence and so
// synchronizes with the waiter, whose tasks' completion it then sees (see
// OutsideWakeScope()). acq_rel: the acquire takes every write a scope made
// before it left (pairs with the release in ~OutsideWakeScope()).
void WaitForSlot(uint32_t slot) {
  while (g_in_scope[slot].fetch_add(0, std::memory_order_acq_rel) != 0) {
    std::this_thread::yield();
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
  g_in_scope[slot_].fetch_add(1, std::memory_order_acq_rel);
}

OutsideWakeScope::~OutsideWakeScope() {
  // release: everything the wake did to the runtime happens before a
  // waiter that sees the slot empty goes on to free it (pairs with the
  // acquire in WaitForSlot()).
  g_in_scope[slot_].fetch_sub(1, std::memory_order_release);
}

void WaitForOutsideWakes() {
  absl::MutexLock lock(&g_waiters);
  // Moving the epoch sends new scopes to the other slot, so each wait is
  // for scopes already begun. Both slots are waited for, as a scope may
  // have read the epoch long before and counted itself in either.
  // relaxed: only waiters write it, under g_waiters.
  for (int i = 0; i < 2; ++i) {
    const uint32_t old = g_epoch.fetch_add(1, std::memory_order_relaxed) & 1;
    WaitForSlot(old);
  }
}

}  // namespace tidepool::internal
