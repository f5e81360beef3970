#include "runtime/internal/block_cache.h"

#include <cstring>
#include <set>
#include <thread>
#include <vector>

#include "alloc/sanitizer.h"
#include "gtest/gtest.h"

namespace tidepool::internal {
namespace {

#if TIDEPOOL_SANITIZER_BUILD
constexpr bool kCached = false;
#else
constexpr bool kCached = true;
#endif

TEST(BlockCacheTest, AFreedBlockServesTheNextAllocationOfItsClass) {
  if (!kCached) GTEST_SKIP() << "the cache is off under sanitizers";
  void* a = AllocateTaskMemory(100);
  FreeTaskMemory(a, 100);
  // 100 and 120 bytes share the 128-byte class.
  void* b = AllocateTaskMemory(120);
  EXPECT_EQ(a, b);
  // Another class does not get it.
  void* c = AllocateTaskMemory(100);
  EXPECT_NE(c, b);
  FreeTaskMemory(b, 120);
  FreeTaskMemory(c, 100);
}

TEST(BlockCacheTest, BlocksAreUsableAndDistinct) {
  std::vector<std::pair<void*, size_t>> blocks;
  std::set<void*> seen;
  for (size_t n = 1; n <= 2048; n += 7) {
    void* p = AllocateTaskMemory(n);
    std::memset(p, 0xab, n);  // ASan checks the whole size is ours
    EXPECT_TRUE(seen.insert(p).second);
    blocks.emplace_back(p, n);
  }
  for (auto [p, n] : blocks) FreeTaskMemory(p, n);
}

TEST(BlockCacheTest, KeepsAtMostTheBoundPerThread) {
  if (!kCached) GTEST_SKIP() << "the cache is off under sanitizers";
  std::thread([] {
    constexpr size_t kBlock = 1024;
    std::vector<void*> blocks;
    for (size_t i = 0; i < 2 * kMaxCachedBytes / kBlock; ++i) {
      blocks.push_back(AllocateTaskMemory(kBlock));
    }
    EXPECT_EQ(CachedBytesOnThisThread(), 0u);
    for (void* p : blocks) FreeTaskMemory(p, kBlock);
    // Half of them fit; the rest went back to malloc.
    EXPECT_EQ(CachedBytesOnThisThread(), kMaxCachedBytes);
    void* p = AllocateTaskMemory(kBlock);
    EXPECT_EQ(CachedBytesOnThisThread(), kMaxCachedBytes - kBlock);
    FreeTaskMemory(p, kBlock);
  }).join();
}

TEST(BlockCacheTest, LargeBlocksBypassTheCache) {
  void* p = AllocateTaskMemory(64 * 1024);
  std::memset(p, 1, 64 * 1024);
  FreeTaskMemory(p, 64 * 1024);
}

// A block freed after the thread's cache is gone (by a thread_local built
// before the cache, so destroyed after it) goes back to operator delete
// instead of onto the destroyed cache's lists.
struct FreesAtThreadExit {
  void* block = nullptr;
  size_t* cached_after = nullptr;
  ~FreesAtThreadExit() {
    FreeTaskMemory(block, 64);
    *cached_after = CachedBytesOnThisThread();
  }
};

TEST(BlockCacheTest, BlocksFreedAfterTheCacheIsGoneBypassIt) {
  size_t cached_after = 12345;
  std::thread([&] {
    thread_local FreesAtThreadExit late;  // built first, destroyed last
    late.cached_after = &cached_after;
    late.block = AllocateTaskMemory(64);  // builds the cache
  }).join();
  EXPECT_EQ(cached_after, 0u);
}

}  // namespace
}  // namespace tidepool::internal
