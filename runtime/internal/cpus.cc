#include "runtime/internal/cpus.h"

#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

namespace tidepool::internal {
namespace {

// How many CPUs the calling thread's affinity allows.
int AffinityCpus() {
  // A set sized for the machine: the fixed cpu_set_t holds 1024 CPUs, and
  // the call fails with EINVAL on a kernel configured for more.
  for (int cpus = 1024; cpus <= (1 << 20); cpus *= 2) {
    cpu_set_t* set = CPU_ALLOC(cpus);
    if (set == nullptr) return 1;
    const size_t size = CPU_ALLOC_SIZE(cpus);
    const int rc = sched_getaffinity(0, size, set);
    const int count = rc == 0 ? CPU_COUNT_S(size, set) : 0;
    CPU_FREE(set);
    if (rc == 0) return count;
    if (errno != EINVAL) return 1;
  }
  return 1;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return in ? text.str() : std::string();
}

// The process's own cgroup's CPU quota, in CPUs; none if unlimited or not
// found. Quotas of parent cgroups are not looked at.
std::optional<double> CgroupCpuQuota() {
  std::istringstream groups(ReadFile("/proc/self/cgroup"));
  for (std::string line; std::getline(groups, line);) {
    // "id:controllers:path"; v2 has id 0 and no controllers.
    const size_t a = line.find(':');
    const size_t b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1);
    const std::string path = line.substr(b + 1);
    if (controllers.empty()) {
      const std::string max = ReadFile("/sys/fs/cgroup" + path + "/cpu.max");
      if (!max.empty()) return ParseCgroupCpuMax(max);
      continue;
    }
    std::istringstream names(controllers);
    for (std::string name; std::getline(names, name, ',');) {
      if (name != "cpu") continue;
      const std::string dir = "/sys/fs/cgroup/cpu" + path;
      return ParseCgroupCpuMax(ReadFile(dir + "/cpu.cfs_quota_us") + " " +
                               ReadFile(dir + "/cpu.cfs_period_us"));
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<double> ParseCgroupCpuMax(const std::string& text) {
  std::istringstream in(text);
  std::string quota;
  long long period = 0;
  if (!(in >> quota >> period) || period <= 0) return std::nullopt;
  if (quota == "max") return std::nullopt;
  char* end = nullptr;
  const long long q = std::strtoll(quota.c_str(), &end, 10);
  if (end == quota.c_str() || *end != '\0' || q < 0) return std::nullopt;
  return static_cast<double>(q) / static_cast<double>(period);
}

int UsableCpusFrom(int affinity, std::optional<double> quota) {
  int cpus = affinity;
  // Compared as doubles: a quota may exceed what an int holds.
  if (quota && *quota < cpus) cpus = static_cast<int>(std::floor(*quota));
  return std::max(cpus, 1);
}

int UsableCpus() { return UsableCpusFrom(AffinityCpus(), CgroupCpuQuota()); }

}  // namespace tidepool::internal
