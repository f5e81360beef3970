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

namespace {

template <typename Fn>
bool Find(void* library, const char* name, Fn* out) {
  // dlsym on a library handle searches that library first, so this finds
  // the library's own definition even when the executable interposes the
  // name.
  *out = reinterpret_cast<Fn>(dlsym(library, name));
  return *out != nullptr;
}

}  // namespace

bool ResolveMallocOps(Backend kind, MallocOps* ops) {
  const char* name = LibraryOf(kind);
  if (name == nullptr) return false;
  // NOLOAD: only use a library the program is linked with. Loading jemalloc
  // this late would fail anyway (it needs static TLS).
  void* library = dlopen(name, RTLD_NOW | RTLD_NOLOAD);
  if (library == nullptr) return false;
  return Find(library, "malloc", &ops->malloc) &&
         Find(library, "free", &ops->free) &&
         Find(library, "calloc", &ops->calloc) &&
         Find(library, "realloc", &ops->realloc) &&
         Find(library, "memalign", &ops->memalign) &&
         Find(library, "posix_memalign", &ops->posix_memalign) &&
         Find(library, "malloc_usable_size", &ops->malloc_usable_size);
}

}  // namespace tidepool::alloc::internal
