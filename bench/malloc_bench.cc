// malloc/free throughput, compiled twice: with //alloc:malloc_override
// (malloc_bench_override, backend chosen by TIDEPOOL_ALLOCATOR) and without
// (malloc_bench_plain, glibc as is or jemalloc/mimalloc through LD_PRELOAD).
// bench/compare_malloc.sh runs the two side by side per backend; issue 4
// allows the override at most 5% less throughput.
//
// An item is one allocation and its matching release.

#include <benchmark/benchmark.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "alloc/alloc.h"
#include "alloc/backend.h"

namespace {

// Both binaries must draw the same sizes, so the sequence comes from a fixed
// seed rather than std::random_device. A power of two keeps the wrap-around
// to a mask.
constexpr size_t kSequenceLength = 4096;

std::vector<size_t> SizeSequence(size_t min, size_t max) {
  std::vector<size_t> sizes(kSequenceLength);
  uint64_t state = 0x9E3779B97F4A7C15u;
  for (size_t& size : sizes) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    size = min + state % (max - min + 1);
  }
  return sizes;
}

// A mix-up of binary and environment (say a preload that did not take)
// would silently compare an allocator with itself; printing the backend
// makes it visible in the log.
bool ReportBackend() {
  std::fprintf(
      stderr, "malloc_bench: malloc served by %s\n",
      tidepool::alloc::BackendName(tidepool::alloc::active_backend().kind));
  return true;
}

[[maybe_unused]] const bool kBackendReported = ReportBackend();

void BM_MallocFreeSmall(benchmark::State& state) {
  const std::vector<size_t> sizes = SizeSequence(16, 512);
  size_t i = 0;
  for (auto _ : state) {
    void* p = std::malloc(sizes[i]);
    benchmark::DoNotOptimize(p);
    std::free(p);
    i = (i + 1) & (kSequenceLength - 1);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MallocFreeSmall);

constexpr size_t kBatch = 1000;

// Holding a thousand blocks at once makes the allocator work past its
// per-thread cache, which the immediate free of BM_MallocFreeSmall never
// does.
void BM_MallocFreeBatch(benchmark::State& state) {
  const std::vector<size_t> sizes = SizeSequence(16, 4096);
  std::array<void*, kBatch> blocks;
  size_t offset = 0;
  for (auto _ : state) {
    for (size_t j = 0; j < kBatch; ++j) {
      blocks[j] = std::malloc(sizes[(offset + j) & (kSequenceLength - 1)]);
      benchmark::DoNotOptimize(blocks[j]);
    }
    for (void* p : blocks) std::free(p);
    offset = (offset + kBatch) & (kSequenceLength - 1);
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_MallocFreeBatch);
BENCHMARK(BM_MallocFreeBatch)->Threads(2);

struct Block64 {
  char bytes[64];
};

// new/delete go through operator new and the sized operator delete, which
// jemalloc and mimalloc define themselves when preloaded.
void BM_NewDelete64(benchmark::State& state) {
  for (auto _ : state) {
    auto* p = new Block64;
    benchmark::DoNotOptimize(p);
    delete p;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_NewDelete64);

}  // namespace
