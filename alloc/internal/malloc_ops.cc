#include "alloc/internal/malloc_ops.h"

#include <dlfcn.h>

namespace tidepool::alloc::internal {

const char* LibraryOf(Backend kind) {
  switch (kind) {
    case Backend::kGlibc:
      return "libc.so.6";
    case Backend::kJemalloc:
      return "libjemalloc.so.2";
    case Backend::kMimalloc:
      return "libmimalloc.so.2";
    case Backend::kUnknown:
      break;
  }
  return nullptr;
}

bool ResolveMallocOps(Backend kind, MallocOps* ops) {
  const char* name = LibraryOf(kind);
  if (name == nullptr) return false;
  // mimalloc is loaded here when it is chosen, so that a program that does
  // not choose it never maps it (its 8 bytes of static TLS fit the room
  // glibc keeps for libraries loaded late). GLOBAL: the allocator layer
  // reaches mimalloc's own API through the global scope; the executable's
  // malloc still comes first there. glibc and jemalloc must already be
  // loaded: jemalloc's 2.6 KB of static TLS do not fit that room, so
  // malloc_override links it.
  const int how = kind == Backend::kMimalloc ? RTLD_NOW | RTLD_GLOBAL
                                             : RTLD_NOW | RTLD_NOLOAD;
  void* library = dlopen(name, how);
  if (library == nullptr) return false;
  return FindSymbol(library, "malloc", &ops->malloc) &&
         FindSymbol(library, "free", &ops->free) &&
         FindSymbol(library, "calloc", &ops->calloc) &&
         FindSymbol(library, "realloc", &ops->realloc) &&
         FindSymbol(library, "memalign", &ops->memalign) &&
         FindSymbol(library, "posix_memalign", &ops->posix_memalign) &&
         FindSymbol(library, "malloc_usable_size", &ops->malloc_usable_size);
}

}  // namespace tidepool::alloc::internal
