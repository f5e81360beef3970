#include "runtime/internal/task_state.h"

#include <cstdio>
#include <cstdlib>

namespace tidepool::internal {

void TaskState::RefCountUnderflow() {
  std::fprintf(stderr, "tidepool: a task's reference was dropped twice\n");
  std::abort();
}

}  // namespace tidepool::internal
