#ifndef TIDEPOOL_ALLOC_INTERNAL_MALLOC_OPS_H_
#define TIDEPOOL_ALLOC_INTERNAL_MALLOC_OPS_H_

#include <dlfcn.h>

#include <cstddef>

#include "alloc/backend.h"

namespace tidepool::alloc::internal {

// One allocator's own malloc family, reached by name inside its library so
// that whatever owns the global `malloc` symbol (malloc_override, say) is
// bypassed.
// noexcept: C allocators never throw, and it lets noexcept callers (operator
// delete) end in a tail call instead of a frame.
struct MallocOps {
  void* (*malloc)(size_t) noexcept;
  void (*free)(void*) noexcept;
  void* (*calloc)(size_t, size_t) noexcept;
  void* (*realloc)(void*, size_t) noexcept;
  void* (*memalign)(size_t, size_t) noexcept;
  int (*posix_memalign)(void**, size_t, size_t) noexcept;
  size_t (*malloc_usable_size)(void*) noexcept;
};

// Looks `name` up in `library` (a dlopen handle, or RTLD_DEFAULT for the
// global scope). With a library handle dlsym searches that library first,
// so this finds its own definition even when the executable interposes the
// name. Returns whether the symbol was found.
template <typename Fn>
bool FindSymbol(void* library, const char* name, Fn* out) {
  *out = reinterpret_cast<Fn>(dlsym(library, name));
  return *out != nullptr;
}

// The shared object that holds `kind`'s malloc: libc.so.6,
// libjemalloc.so.2 or libmimalloc.so.2.
const char* LibraryOf(Backend kind);

// Fills `ops` from the backend's library: glibc's and jemalloc's must
// already be loaded, mimalloc's is loaded if it is not. Returns false
// (leaving `ops` unusable) when it is not there, or lacks a symbol.
// May call malloc (through the dynamic loader): callers inside malloc must
// be ready for re-entry.
bool ResolveMallocOps(Backend kind, MallocOps* ops);

}  // namespace tidepool::alloc::internal

#endif  // TIDEPOOL_ALLOC_INTERNAL_MALLOC_OPS_H_
