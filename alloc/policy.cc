#include "alloc/policy.h"

namespace tidepool::alloc {

Policy DefaultPolicy() { return Policy{}; }

Policy NoPolicy() {
  Policy p;
  p.glibc_arena_max = 0;
  p.jemalloc_decay_ms = -1;
  p.mimalloc_decommit_delay_ms = -1;
  p.jemalloc_blocking_arenas = 0;
  p.mimalloc_heap_per_thread = false;
  p.mimalloc_release_on_idle = false;
  p.trim.on_blocking_idle = false;
  p.trim.on_thread_exit = false;
  p.trim.runtime_idle = std::chrono::milliseconds(0);
  return p;
}

}  // namespace tidepool::alloc
