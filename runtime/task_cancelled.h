#ifndef TIDEPOOL_RUNTIME_TASK_CANCELLED_H_
#define TIDEPOOL_RUNTIME_TASK_CANCELLED_H_

#include <stdexcept>

namespace tidepool {

// Thrown by awaiting a JoinHandle whose task was aborted, or was still
// pending (or queued for a blocking thread) when its runtime shut down.
class TaskCancelled : public std::runtime_error {
 public:
  TaskCancelled() : std::runtime_error("tidepool: task was cancelled") {}
};

}  // namespace tidepool

#endif  // TIDEPOOL_RUNTIME_TASK_CANCELLED_H_
