#ifndef TIDEPOOL_ALLOC_ALLOC_H_
#define TIDEPOOL_ALLOC_ALLOC_H_

// tidepool::alloc: the allocator layer. It knows which allocator serves
// malloc in this process, binds threads to it by role, trims, and reports.
// It never depends on the runtime; the runtime calls it when a thread
// starts, goes idle and exits, and when it trims.
//
// Which allocator: with //alloc:malloc_override linked, the one named by
// TIDEPOOL_ALLOCATOR (see malloc_override.cc); without it, whichever library
// owns `malloc` (glibc, or jemalloc/mimalloc linked first or preloaded).
//
// All functions may be called from any thread. Configure() should run before
// the threads it concerns exist (the runtime calls it in Builder::build()).

#include <chrono>
#include <cstdint>

#include "absl/status/status.h"
#include "alloc/backend.h"
#include "alloc/policy.h"
#include "alloc/stats.h"

namespace tidepool::alloc {

enum class ThreadRole { kWorker, kBlocking, kOther };

// The backend serving malloc, and its arena cap when set by
// TIDEPOOL_ALLOCATOR.
BackendSpec active_backend();

// Applies `policy` to the backend in force. Fails with InvalidArgument when
// policy.expect names another backend, or when a knob is out of range.
// Later calls replace earlier ones for what can still change.
absl::Status Configure(const Policy& policy);

// The policy most recently configured (DefaultPolicy() before any).
Policy CurrentPolicy();

// Thread hooks, called in the thread concerned. BindThread is idempotent
// and cheap (a few mallctl calls at most). ThreadIdle releases what the
// allocator holds for this thread: a blocking thread calls it as it goes to
// sleep, a worker once the runtime has been idle for trim.runtime_idle.
// jemalloc flushes the thread cache (microseconds); mimalloc collects the
// heap (microseconds to a millisecond), a worker's with its decommit delay
// lifted to 0 for the collect when one is set, so that the pages freed go
// back at once (busy threads decommit at once meanwhile too). Example:
//   alloc::BindThread(alloc::ThreadRole::kWorker);  // at thread start
//   alloc::ThreadIdle(alloc::ThreadRole::kWorker);  // idle for a while
void BindThread(ThreadRole role);
void ThreadIdle(ThreadRole role);
void ThreadExit(ThreadRole role);

struct TrimResult {
  // Resident set before and after, and the difference (never negative).
  int64_t resident_before = 0;
  int64_t resident_after = 0;
  int64_t released = 0;
};

// Gives free memory back to the system: glibc malloc_trim(0) (walks every
// arena), jemalloc purge of all arenas, mimalloc collect (of the calling
// thread's heap and the segments no thread holds, with the decommit delay
// lifted to 0 for the collect when one is set). Costs a few
// milliseconds on a large heap.
TrimResult trim();

// trim(), unless another trim ran less than `min_interval` ago or is running
// now; for automatic triggers that may fire in bursts (95 pool threads
// reaching their keep-alive together). Returns whether it trimmed.
bool TrimCoalesced(std::chrono::milliseconds min_interval);

Stats stats();

// Bytes the program holds in blocks the allocator serves (on jemalloc and
// mimalloc, with the free memory they keep resident), as cheaply as the
// backend can count them, or -1 when it cannot (kUnknown: another
// interposer, as in sanitizer builds). What the runtime's memory budget
// (Builder::memory_budget) samples.
//   glibc     mallinfo2: uordblks + hblkhd (arena blocks and mmapped ones).
//             Locks each arena in turn and walks its free lists: a few to
//             tens of microseconds, growing with the free chunks.
//   jemalloc  stats.allocated after an epoch refresh, which merges every
//             arena's counters, plus the pages freed but not purged yet
//             (dirty and muzzy), which stay resident: tens of
//             microseconds.
//   mimalloc  AnonymousResidentBytes(): release builds count nothing
//             finer, and mimalloc's committed count includes segments
//             committed whole but never touched (tens of MB at idle).
//             Counts every anonymous page (thread stacks too), and free
//             pages mimalloc keeps until its decommit delay expires. One
//             read of /proc/self/statm: a few microseconds.
// Any thread.
int64_t InUseBytes();

// The process's VmRSS in bytes, from /proc/self/statm; -1 if unreadable.
int64_t ResidentBytes();

// The part of it not backed by a file or shared memory (statm's resident
// - shared: RssAnon): the heap, stacks and other private anonymous
// mappings.
int64_t AnonymousResidentBytes();

}  // namespace tidepool::alloc

#endif  // TIDEPOOL_ALLOC_ALLOC_H_
