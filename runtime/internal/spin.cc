#include "runtime/internal/spin.h"

#include <cerrno>

namespace tidepool::internal {

bool MayUseTwoCpus() {
  // A set sized for the machine: the fixed cpu_set_t holds 1024 CPUs, and
  // the call fails with EINVAL on a kernel configured for more.
  for (int cpus = 1024; cpus <= (1 << 20); cpus *= 2) {
    cpu_set_t* set = CPU_ALLOC(cpus);
    if (set == nullptr) return false;
    const size_t size = CPU_ALLOC_SIZE(cpus);
    const int rc = sched_getaffinity(0, size, set);
    const int count = rc == 0 ? CPU_COUNT_S(size, set) : 0;
    CPU_FREE(set);
    if (rc == 0) return count >= 2;
    if (errno != EINVAL) return false;
  }
  return false;
}

}  // namespace tidepool::internal
