#ifndef TIDEPOOL_RUNTIME_INTERNAL_UNHANDLED_SINK_H_
#define TIDEPOOL_RUNTIME_INTERNAL_UNHANDLED_SINK_H_

#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>

#include "runtime/unhandled_exception.h"

namespace tidepool::internal {

using UnhandledExceptionHandler =
    std::function<void(const UnhandledException&)>;

// Where one runtime's unhandled exceptions go (unhandled_exception.h).
struct UnhandledSink {
  explicit UnhandledSink(UnhandledExceptionHandler h) : handler(std::move(h)) {}
  const UnhandledExceptionHandler handler;
  // relaxed: a statistic, read by Runtime::metrics().
  std::atomic<uint64_t> count{0};
};

// A process-wide table of sinks by runtime id. A task cell can outlive its
// runtime (a JoinHandle kept after the Runtime is destroyed), so it names
// its sink by id and finds it here, or finds it gone. Any thread.
uint32_t RegisterUnhandledSink(std::shared_ptr<UnhandledSink> sink);
void UnregisterUnhandledSink(uint32_t runtime_id);

// Hands `error` to the sink of `runtime_id` (ReportUnhandledException if
// that runtime is gone) and counts it. Never throws.
void ReportUnhandled(uint32_t runtime_id, std::exception_ptr error,
                     uint64_t task_id, bool blocking) noexcept;

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_INTERNAL_UNHANDLED_SINK_H_
