#ifndef TIDEPOOL_ALLOC_POLICY_H_
#define TIDEPOOL_ALLOC_POLICY_H_

// Policy: what tidepool does with the allocator that serves malloc, so that
// memory freed under load goes back to the system instead of staying trapped
// in per-thread arenas.
//
// Knobs that do not apply to the backend in force are ignored (an arena cap
// means nothing to jemalloc). DefaultPolicy() is what a Runtime uses unless
// Builder::allocator() says otherwise; docs/allocators.md gives the reasons.
//
//   tidepool::alloc::Policy p = tidepool::alloc::DefaultPolicy();
//   p.glibc_arena_max = 2;
//   auto rt = tidepool::Builder().process_allocator(p).build();

#include <chrono>
#include <cstddef>
#include <optional>

#include "alloc/backend.h"

namespace tidepool::alloc {

struct TrimPolicy {
  // Release memory held for a blocking thread when it goes to sleep idle,
  // not while a short spin for the next call catches it (jemalloc: flush
  // its thread cache; mimalloc: collect its heap; glibc: nothing
  // thread-local exists, see runtime_idle).
  bool on_blocking_idle = true;
  // Trim the process when a pool thread exits at keep-alive (its arena or
  // heap is left with only free memory).
  bool on_thread_exit = true;
  // Trim the process once the runtime has been idle this long (all workers
  // parked), and have each worker release what the allocator holds for it
  // (alloc::ThreadIdle(kWorker)) as it finds the runtime idle that long;
  // zero disables both.
  std::chrono::milliseconds runtime_idle{1000};

  bool operator==(const TrimPolicy&) const = default;
};

// A default-constructed Policy is tidepool's default (DefaultPolicy()).
struct Policy {
  // Refuse to build when another backend serves malloc; nullopt accepts any.
  std::optional<Backend> expect;

  // glibc: cap on arenas (M_ARENA_MAX); 0 keeps glibc's 8 per core. Applied
  // when the runtime is built, before its threads start; threads that
  // already took an arena keep it. Two stop per-thread arena growth, the
  // seed's fragmentation.
  int glibc_arena_max = 2;
  // glibc: fixed mmap threshold (M_MMAP_THRESHOLD) in bytes; blocks at least
  // this large are mmapped and unmapped on free, so they never fragment an
  // arena. 0 keeps glibc's sliding threshold (which rises up to 32 MiB after
  // the first large free, moving 200 KiB payloads into the arenas, where
  // they are reused without a syscall; the trims hand the free space back
  // afterwards, where a fixed threshold costs an mmap/munmap per payload).
  size_t glibc_mmap_threshold = 0;
  // glibc: trim threshold (M_TRIM_THRESHOLD) in bytes; free space at the top
  // of a heap beyond this goes back to the system as soon as it appears. 0
  // keeps glibc's (128 KiB, then twice the sliding mmap threshold), which
  // gives back, and faults in again, a heap's top on every burst that frees
  // a few MiB: a thread that spawns 10,000 tasks for the workers to free
  // ran at half speed in half the processes, and 4 MiB or more cured it.
  // The cost: malloc_trim (TrimPolicy) cannot shrink the top of a thread
  // arena's heap, so up to this much per arena stays resident after a
  // load. glibc stops sliding its mmap threshold once this is set, so a
  // nonzero value needs glibc_mmap_threshold too (32 MiB is where the slide
  // would stop).
  size_t glibc_trim_threshold = 0;

  // jemalloc: number of arenas shared by all blocking threads (each worker
  // gets an arena of its own). 0 leaves threads on jemalloc's default
  // arenas.
  int jemalloc_blocking_arenas = 2;
  // jemalloc: dirty and muzzy page decay of tidepool's arenas, in ms; -1
  // keeps jemalloc's default (10 s). A second returns dirty pages soon
  // after a burst.
  int jemalloc_decay_ms = 1000;
  // jemalloc: purge in background threads.
  bool jemalloc_background_thread = false;

  // mimalloc: give each runtime thread a heap of its own.
  bool mimalloc_heap_per_thread = true;
  // mimalloc: delay before freed pages are decommitted, in ms
  // (mi_option_decommit_delay); -1 keeps mimalloc's default (25 in 2.0.9).
  // A thread reuses the pages it freed within the delay without a page
  // fault or a decommit (each decommit interrupts the other CPUs to flush
  // their TLBs). The price is the pages each thread keeps meanwhile, which
  // the blocking pool's parallelism limit keeps to a few threads; 0
  // decommits at once, the lowest peak at about a third of the speed on the
  // seed workload (docs/allocators.md).
  int mimalloc_decommit_delay_ms = 25;
  // mimalloc, with a decommit delay: an idle worker (trim.runtime_idle) and
  // alloc::trim() collect with the delay lifted to 0 for the collect's
  // duration, the idle worker also sweeps its own segments' free spans in
  // that window, and a thread's segments have their delayed decommits done
  // when it ends (mi_option_abandoned_page_decommit). mimalloc 2.0.9
  // decommits a delayed page only when its owner takes a page from the
  // same segment, which an idle thread never does, and a forced collect
  // does not do it (docs/allocators.md, "The idle sweep").
  bool mimalloc_release_on_idle = true;

  TrimPolicy trim;

  bool operator==(const Policy&) const = default;
};

// tidepool's default, the settings measured to keep the seed workload flat
// (docs/allocators.md): the same as Policy{}.
Policy DefaultPolicy();

// Every knob off: the allocator exactly as the system configures it.
Policy NoPolicy();

}  // namespace tidepool::alloc

#endif  // TIDEPOOL_ALLOC_POLICY_H_
