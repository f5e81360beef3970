#include "alloc/policy.h"

namespace tidepool::alloc {

Policy DefaultPolicy() {
  Policy p;
  // glibc: two arenas stop per-thread arena growth, and a fixed 128 KiB mmap
  // threshold keeps large payloads out of the arenas (glibc would otherwise
  // raise the threshold to 32 MiB after the first large free).
  p.glibc_arena_max = 2;
  p.glibc_mmap_threshold = 128 * 1024;
  // jemalloc: a second of decay returns dirty pages soon after a burst.
  p.jemalloc_blocking_arenas = 2;
  p.jemalloc_decay_ms = 1000;
  // mimalloc: decommit freed pages at once. mimalloc 2.0.9's forced collect
  // does not return pages whose decommit was delayed (measured: 30 of 190
  // MB), so a delay would keep a burst's memory until reuse.
  p.mimalloc_decommit_delay_ms = 0;
  return p;
}

Policy NoPolicy() {
  Policy p;
  p.jemalloc_blocking_arenas = 0;
  p.mimalloc_heap_per_thread = false;
  p.trim.on_blocking_idle = false;
  p.trim.on_thread_exit = false;
  p.trim.runtime_idle = std::chrono::milliseconds(0);
  return p;
}

}  // namespace tidepool::alloc
