// What Generate allocates, counted by replacing the global operator new in
// this test binary: its memory per request is its output, not a multiple
// of the document.

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>

#include "examples/frontend/generate.h"
#include "gtest/gtest.h"

namespace {

// relaxed: single-threaded test; atomics only so that a stray allocation
// from another thread (gtest's) stays well-defined.
std::atomic<size_t> live_bytes{0};
std::atomic<size_t> peak_bytes{0};

void* Allocate(size_t n) {
  // The size goes in a header, so delete knows what leaves.
  auto* p = static_cast<size_t*>(std::malloc(n + 16));
  if (p == nullptr) throw std::bad_alloc();
  p[0] = n;
  const size_t now = live_bytes.fetch_add(n, std::memory_order_relaxed) + n;
  size_t peak = peak_bytes.load(std::memory_order_relaxed);
  while (now > peak && !peak_bytes.compare_exchange_weak(
                           peak, now, std::memory_order_relaxed)) {
  }
  return p + 2;
}

void Free(void* q) {
  if (q == nullptr) return;
  size_t* p = static_cast<size_t*>(q) - 2;
  live_bytes.fetch_sub(p[0], std::memory_order_relaxed);
  std::free(p);
}

}  // namespace

void* operator new(size_t n) { return Allocate(n); }
void* operator new[](size_t n) { return Allocate(n); }
void* operator new(size_t n, const std::nothrow_t&) noexcept {
  try {
    return Allocate(n);
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}
void* operator new[](size_t n, const std::nothrow_t& t) noexcept {
  return operator new(n, t);
}
void operator delete(void* p) noexcept { Free(p); }
void operator delete[](void* p) noexcept { Free(p); }
void operator delete(void* p, size_t) noexcept { Free(p); }
void operator delete[](void* p, size_t) noexcept { Free(p); }

namespace tidepool::frontend {
namespace {

// A 200 KiB body in the loadgen's style: words, punctuation, UTF-8 and
// escapes.
std::string LargeBody() {
  std::string body = "{\"max_tokens\": 5, \"prompt\": \"";
  const char* const pieces[] = {"tide ",        "pool, ",     "(stream ",
                                "caf\xc3\xa9 ", "\\\"q\\\" ", "a\\nb ",
                                "\\u4e2d ",     "42 "};
  for (size_t i = 0; body.size() < 200 * 1024; ++i) body += pieces[i % 8];
  body += "\"}";
  return body;
}

TEST(GenerateMemoryTest, AllocatesItsOutputAndLessThanABlockMore) {
  const std::string body = LargeBody();
  const size_t before = live_bytes.load(std::memory_order_relaxed);
  peak_bytes.store(before, std::memory_order_relaxed);
  absl::StatusOr<TokenText> text = GenerateText(body);
  ASSERT_TRUE(text.ok()) << text.status();
  const size_t peak = peak_bytes.load(std::memory_order_relaxed) - before;
  // More output than a 2x estimate of the prompt would have reserved: a
  // single string would have grown, holding old and new at once.
  EXPECT_GT(text->size(), 2 * 200u * 1024);
  // A DOM parse alone took about 14 times the body.
  EXPECT_LE(peak, text->size() + kTextBlockBytes + 4096)
      << "output " << text->size();
}

}  // namespace
}  // namespace tidepool::frontend
