// The runtime's allocator triggers: a runtime left idle hands free memory
// back without anyone calling trim.
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "alloc/alloc.h"
#include "gtest/gtest.h"
#include "runtime/runtime.h"

namespace tidepool {
namespace {

using namespace std::chrono_literals;

// Fills ~200 MB with small blocks and frees all but one per MiB, so the free
// space sits between live blocks where only a trim can return it.
Task<std::vector<char*>> Fragment() {
  std::vector<char*> blocks;
  for (int i = 0; i < 200 * 1024; ++i) {
    char* p = static_cast<char*>(malloc(1000));
    std::memset(p, 7, 1000);
    blocks.push_back(p);
  }
  std::vector<char*> kept;
  for (size_t i = 0; i < blocks.size(); ++i) {
    if (i % 1024 == 0) {
      kept.push_back(blocks[i]);
    } else {
      free(blocks[i]);
    }
  }
  co_return kept;
}

TEST(AllocatorHooksTest, IdleRuntimeTrims) {
  if (alloc::active_backend().kind != alloc::Backend::kGlibc) {
    GTEST_SKIP() << "needs glibc malloc (sanitizers interpose their own)";
  }
  for (bool idle_trim : {false, true}) {
    alloc::Policy policy = alloc::NoPolicy();
    policy.trim.runtime_idle = idle_trim ? 100ms : 0ms;
    auto rt = Builder().worker_threads(1).process_allocator(policy).build();
    ASSERT_TRUE(rt.ok()) << rt.status();
    const int64_t before = alloc::ResidentBytes();
    std::vector<char*> kept = rt->block_on(Fragment());
    const int64_t loaded = alloc::ResidentBytes();
    ASSERT_GT(loaded - before, 150 << 20) << "the load did not grow RSS";
    std::this_thread::sleep_for(600ms);
    const int64_t idle = alloc::ResidentBytes();
    if (idle_trim) {
      EXPECT_LT(idle - before, 40 << 20) << "idle runtime kept the memory";
    } else {
      // The control: without the trigger glibc keeps it.
      EXPECT_GT(idle - before, 150 << 20) << "memory left without a trim";
    }
    for (char* p : kept) free(p);
    alloc::trim();
  }
}

}  // namespace
}  // namespace tidepool
