#include "runtime/internal/block_cache.h"

#include <array>
#include <new>

#include "alloc/sanitizer.h"

namespace tidepool::internal {
namespace {

#if TIDEPOOL_SANITIZER_BUILD
constexpr bool kCacheEnabled = false;
#else
constexpr bool kCacheEnabled = true;
#endif

constexpr size_t kClassBytes = 64;
constexpr size_t kClasses = 16;  // up to 1 KiB

struct FreeBlock {
  FreeBlock* next;
};

// Set once this thread's cache is destroyed: a task or channel freed later
// in the thread's exit (by another thread_local's or, on the main thread, a
// static's destructor) goes straight to operator delete. Trivially
// destructible, so it stays readable until the thread is gone.
thread_local bool tls_cache_gone = false;

class ThreadCache {
 public:
  ~ThreadCache() {
    tls_cache_gone = true;
    for (FreeBlock*& head : heads_) {
      while (head != nullptr) {
        FreeBlock* b = head;
        head = b->next;
        ::operator delete(b);
      }
    }
  }

  void* Take(size_t cls) {
    FreeBlock* b = heads_[cls];
    if (b == nullptr) return nullptr;
    heads_[cls] = b->next;
    bytes_ -= (cls + 1) * kClassBytes;
    return b;
  }

  size_t bytes() const { return bytes_; }

  bool Keep(void* p, size_t cls) {
    const size_t size = (cls + 1) * kClassBytes;
    if (bytes_ + size > kMaxCachedBytes) return false;
    auto* b = static_cast<FreeBlock*>(p);
    b->next = heads_[cls];
    heads_[cls] = b;
    bytes_ += size;
    return true;
  }

 private:
  std::array<FreeBlock*, kClasses> heads_{};
  size_t bytes_ = 0;
};

thread_local ThreadCache tls_cache;

size_t ClassOf(size_t n) { return (n + kClassBytes - 1) / kClassBytes - 1; }

}  // namespace

void* AllocateTaskMemory(size_t n) {
  const size_t cls = ClassOf(n);
  if (!kCacheEnabled || n == 0 || cls >= kClasses || tls_cache_gone) {
    return ::operator new(n);
  }
  if (void* p = tls_cache.Take(cls)) return p;
  // The whole class size, so that the block can serve any size in it later.
  return ::operator new((cls + 1) * kClassBytes);
}

size_t CachedBytesOnThisThread() {
  return tls_cache_gone ? 0 : tls_cache.bytes();
}

void FreeTaskMemory(void* p, size_t n) noexcept {
  if (p == nullptr) return;
  const size_t cls = ClassOf(n);
  if (!kCacheEnabled || n == 0 || cls >= kClasses || tls_cache_gone ||
      !tls_cache.Keep(p, cls)) {
    ::operator delete(p);
  }
}

}  // namespace tidepool::internal
