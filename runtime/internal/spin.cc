#include "runtime/internal/spin.h"

namespace tidepool::internal {

bool MayUseTwoCpus() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return false;
  return CPU_COUNT(&set) >= 2;
}

}  // namespace tidepool::internal
