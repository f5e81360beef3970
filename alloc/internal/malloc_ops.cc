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
  // NOLOAD: only use a library the program is linked with. Loading jemalloc
  // this late would fail anyway (it needs static TLS).
  void* library = dlopen(name, RTLD_NOW | RTLD_NOLOAD);
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
