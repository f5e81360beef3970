#include "alloc/policy.h"

namespace tidepool::alloc {

Policy DefaultPolicy() {
  Policy p;
  // glibc: two arenas stop per-thread arena growth. glibc's sliding mmap
  // threshold stays: it moves large payloads into the arenas, where they
  // are reused without a syscall, and the trims at pool-thread exit and
  // runtime idle hand the free space back afterwards; a fixed threshold
  // costs an mmap/munmap per payload. glibc's own trim threshold stays too:
  // malloc_trim cannot shrink the top of a thread arena's heap, only a free
  // into it can, so a larger threshold leaves up to that much resident
  // after idle. (docs/allocators.md has the measurements.)
  p.glibc_arena_max = 2;
  p.glibc_mmap_threshold = 0;
  p.glibc_trim_threshold = 0;
  // jemalloc: a second of decay returns dirty pages soon after a burst.
  p.jemalloc_blocking_arenas = 2;
  p.jemalloc_decay_ms = 1000;
  // mimalloc: decommit freed pages at once. mimalloc 2.0.9's forced collect
  // does not return pages whose decommit was delayed, so a delay would keep
  // a burst's memory until reuse.
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
