#ifndef TIDEPOOL_RUNTIME_INTERNAL_CPUS_H_
#define TIDEPOOL_RUNTIME_INTERNAL_CPUS_H_

#include <optional>
#include <string>

namespace tidepool::internal {

// How many CPUs the calling thread may run on: its affinity, capped by its
// cgroup's CPU quota rounded down, and at least 1. A syscall and two or
// three small file reads: the scheduler reads it once, when the runtime is
// built (the runtime's threads inherit the builder's affinity).
int UsableCpus();
// The rule behind UsableCpus(): `affinity` CPUs, capped by `quota` CPUs
// (none: no cap) rounded down, and at least 1.
int UsableCpusFrom(int affinity, std::optional<double> quota);

// A cgroup CPU limit in CPUs, from cgroup v2's cpu.max ("max 100000" or
// "<quota> <period>") or cgroup v1's cpu.cfs_quota_us and cpu.cfs_period_us
// joined by a space ("-1 100000" when unlimited); none if unlimited or
// unreadable.
std::optional<double> ParseCgroupCpuMax(const std::string& text);

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_INTERNAL_CPUS_H_
