#ifndef TIDEPOOL_RUNTIME_INTERNAL_BLOCK_CACHE_H_
#define TIDEPOOL_RUNTIME_INTERNAL_BLOCK_CACHE_H_

#include <cstddef>

namespace tidepool::internal {

// Memory for coroutine frames (with the room for a task cell in front,
// task.h) and blocking-task cells: per-thread free lists of small blocks in
// 64-byte size classes up to 1 KiB, in front of malloc.
//
// Why: every spawned task allocates such a block and it is usually freed on
// another worker than the one that allocated it. glibc's
// per-thread cache holds only 7 blocks per size, so a burst of spawns would
// go to the arena, under its lock, on both workers. Here a freed block
// waits on the freeing thread's list and serves that thread's next spawn.
//
// Bounded: at most kMaxCachedBytes per thread are kept (the rest goes back
// to malloc), and a thread's blocks are freed when it exits, so a pool
// thread that goes away takes nothing with it. Any thread; no locks, no
// atomics. Under AddressSanitizer and ThreadSanitizer the cache is off, so
// that they see every allocation.
void* AllocateTaskMemory(size_t n);
// `n` must be the size passed to AllocateTaskMemory.
void FreeTaskMemory(void* p, size_t n) noexcept;

inline constexpr size_t kMaxCachedBytes = 64 * 1024;

// Bytes the calling thread's cache holds now (for tests and reports).
size_t CachedBytesOnThisThread();

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_INTERNAL_BLOCK_CACHE_H_
