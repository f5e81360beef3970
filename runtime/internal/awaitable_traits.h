#ifndef TIDEPOOL_RUNTIME_INTERNAL_AWAITABLE_TRAITS_H_
#define TIDEPOOL_RUNTIME_INTERNAL_AWAITABLE_TRAITS_H_

#include <utility>

namespace tidepool::internal {

// The awaiter `co_await a` would use: a.operator co_await() when it exists
// (Task, JoinHandle), otherwise a itself (Sleep). Only for decltype.
template <typename A>
decltype(auto) AwaiterOf(A&& a) {
  if constexpr (requires { std::forward<A>(a).operator co_await(); }) {
    return std::forward<A>(a).operator co_await();
  } else {
    return std::forward<A>(a);
  }
}

// The type of `co_await std::declval<A>()`.
template <typename A>
using AwaitResult = decltype(AwaiterOf(std::declval<A>()).await_resume());

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_INTERNAL_AWAITABLE_TRAITS_H_
