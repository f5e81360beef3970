#include "runtime/internal/context.h"

#include <stdexcept>

namespace tidepool::internal {

constinit thread_local std::source_location tls_await_site;
constinit thread_local TaskHeader* tls_task = nullptr;
constinit thread_local bool tls_yield_requested = false;
namespace {
thread_local Scheduler* tls_scheduler = nullptr;
}  // namespace

Scheduler* CurrentScheduler() { return tls_scheduler; }
void SetCurrentScheduler(Scheduler* scheduler) { tls_scheduler = scheduler; }

void ThrowAwaitedOutsideATask() {
  throw std::logic_error(
      "tidepool: a runtime awaitable was awaited outside a tidepool task");
}

}  // namespace tidepool::internal
