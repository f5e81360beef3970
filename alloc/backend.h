#ifndef TIDEPOOL_ALLOC_BACKEND_H_
#define TIDEPOOL_ALLOC_BACKEND_H_

// Which allocator serves malloc, and how the TIDEPOOL_ALLOCATOR setting
// names one.
//
// Accepted values: "glibc", "glibc:arena_max=N" (N from 1 to 1024),
// "jemalloc", "mimalloc". Parsing allocates nothing, so //alloc:malloc_override
// can use it inside the process's first malloc.

#include <string_view>

namespace tidepool::alloc {

enum class Backend {
  kGlibc,
  kJemalloc,
  kMimalloc,
  // malloc is served by something tidepool does not know (another
  // interposer); thread policies and trim do nothing.
  kUnknown,
};

struct BackendSpec {
  Backend kind = Backend::kGlibc;
  // glibc only: cap on malloc arenas (M_ARENA_MAX); 0 leaves glibc's default
  // of 8 per core.
  int arena_max = 0;
};

inline constexpr int kMaxArenaMax = 1024;
inline constexpr const char kAcceptedBackends[] =
    "glibc, glibc:arena_max=N (N from 1 to 1024), jemalloc, mimalloc";

// Parses a TIDEPOOL_ALLOCATOR value. Returns false if it is not one of the
// accepted values.
bool ParseBackendSpec(std::string_view text, BackendSpec* out);

// "glibc", "jemalloc", "mimalloc" or "unknown".
const char* BackendName(Backend kind);

}  // namespace tidepool::alloc

#endif  // TIDEPOOL_ALLOC_BACKEND_H_
