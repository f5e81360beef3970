#include "runtime/internal/asymmetric_fence.h"

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace tidepool::internal {
namespace {

long Membarrier(int cmd) { return syscall(__NR_membarrier, cmd, 0, 0); }

bool Register() {
  const long offered = Membarrier(MEMBARRIER_CMD_QUERY);
  if (offered < 0 || (offered & MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0) {
    return false;
  }
  return Membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
}

}  // namespace

bool HeavyFenceAvailable() {
  static const bool available = Register();
  return available;
}

void HeavyFence() {
  // Cannot fail once registered (the kernel checks only the registration):
  // a failure would break the protocols built on it, so it is fatal.
  if (Membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0) {
    std::perror("tidepool: membarrier(PRIVATE_EXPEDITED)");
    std::abort();
  }
}

}  // namespace tidepool::internal
