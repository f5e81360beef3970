#include "runtime/sync/cancellation_token.h"

#include <algorithm>
#include <utility>

namespace tidepool {

CancellationToken::CancellationToken() : state_(std::make_shared<State>()) {}

void CancellationToken::cancel() { Cancel(state_); }

bool CancellationToken::is_cancelled() const {
  // acquire: pairs with the release exchange in Cancel(): what the canceller
  // wrote before cancel() is visible.
  return state_->cancelled.load(std::memory_order_acquire);
}

Task<void> CancellationToken::cancelled() const { return Wait(state_); }

Task<void> CancellationToken::Wait(std::shared_ptr<State> state) {
  while (true) {
    // Created before the check: a notify_waiters() between the check and
    // the await completes it at once (notify.h), so no cancel is missed.
    Notify::Notified woken = state->notify.notified();
    // acquire: as in is_cancelled().
    if (state->cancelled.load(std::memory_order_acquire)) co_return;
    co_await woken;
  }
}

CancellationToken CancellationToken::child_token() const {
  auto child = std::make_shared<State>();
  {
    internal::MutexLock lock(&state_->mu);
    // Under the parent's lock, which Cancel takes after setting the flag:
    // either the flag is seen here, or Cancel sees this child in the list.
    // acquire: as in is_cancelled(); mu_ alone orders the flag's check.
    if (!state_->cancelled.load(std::memory_order_acquire)) {
      std::erase_if(state_->children,
                    [](const std::weak_ptr<State>& c) { return c.expired(); });
      state_->children.push_back(child);
      return CancellationToken(std::move(child));
    }
  }
  // release: pairs with is_cancelled(); the child is not shared yet, so
  // whatever hands the token on also publishes this.
  child->cancelled.store(true, std::memory_order_release);
  return CancellationToken(std::move(child));
}

void CancellationToken::Cancel(const std::shared_ptr<State>& state) {
  // acq_rel: release pairs with the acquire in is_cancelled(), Wait() and
  // child_token(); acquire gives a losing caller the winner's writes.
  if (state->cancelled.exchange(true, std::memory_order_acq_rel)) return;
  std::vector<std::weak_ptr<State>> children;
  {
    internal::MutexLock lock(&state->mu);
    children.swap(state->children);
  }
  state->notify.notify_waiters();
  for (const std::weak_ptr<State>& weak : children) {
    if (std::shared_ptr<State> child = weak.lock()) Cancel(child);
  }
}

}  // namespace tidepool
