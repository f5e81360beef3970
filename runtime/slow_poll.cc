#include "runtime/slow_poll.h"

#include <cstdio>
#include <string>

namespace tidepool {

void ReportSlowPoll(const SlowPoll& poll) {
  // The duration is whole milliseconds (it is precise to a tick anyway);
  // the threshold as set, which may be a fraction of one.
  const long long ran_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(poll.duration)
          .count();
  const double threshold_ms =
      std::chrono::duration<double, std::milli>(poll.threshold).count();
  const std::string name =
      poll.task.name.empty() ? "" : " \"" + std::string(poll.task.name) + "\"";
  std::fprintf(stderr,
               "tidepool: slow poll: task %llu%s ran %lld ms without "
               "suspending on worker %zu (slow_poll_threshold %g ms)\n",
               static_cast<unsigned long long>(poll.task.id), name.c_str(),
               ran_ms, poll.worker, threshold_ms);
}

}  // namespace tidepool
