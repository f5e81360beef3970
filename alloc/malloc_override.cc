// //alloc:malloc_override: the process's malloc, free, ... and every
// operator new/delete, routed to the backend named by TIDEPOOL_ALLOCATOR (or
// the `allocator` key of the TIDEPOOL_CONFIG file), which is read at the
// process's first allocation and fixed from then on: a pointer must be freed
// by the allocator that made it.
//
// Link it (alwayslink) into a server's binary; switching allocator is then a
// matter of configuration, with no relink and no LD_PRELOAD. Unset means
// glibc. An invalid value prints one line naming the variable and the
// accepted values and exits with status 2 before main.
//
// Cost per call: one acquire load of the state (a plain load on x86) and an
// indirect call into the backend.

#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <new>

#include "alloc/backend.h"
#include "alloc/config_file.h"
#include "alloc/internal/malloc_ops.h"

namespace tidepool::alloc::internal {
namespace {

enum State : int { kUninit, kInitializing, kReady };

// acquire/release: Init() fills g_ops and g_spec, then publishes them with
// the release store of kReady, which the acquire in Ready() and
// EnsureReady() pairs with.
std::atomic<int> g_state{kUninit};
MallocOps g_ops;
BackendSpec g_spec;

// While the backend is being resolved the dynamic loader itself calls
// malloc. Those few early blocks come from this static arena, are never
// freed, and are recognised by address. Each carries its size in front.
constexpr size_t kBootBytes = 256 * 1024;
constexpr size_t kBootHeader = 16;
alignas(64) char g_boot[kBootBytes];
// relaxed: a bump pointer; each block is used only by the thread that got it.
std::atomic<size_t> g_boot_used{0};

// One unsigned compare (null wraps around to a huge offset).
bool IsBoot(const void* p) {
  return reinterpret_cast<uintptr_t>(p) - reinterpret_cast<uintptr_t>(g_boot) <
         kBootBytes;
}

void Die(const char* line) {
  ssize_t ignored = write(STDERR_FILENO, line, std::strlen(line));
  (void)ignored;
  _exit(2);
}

void* BootAlloc(size_t size, size_t align) {
  if (align < kBootHeader) align = kBootHeader;
  // relaxed (load and CAS): a bump pointer; the RMW alone keeps blocks
  // apart, and each block is used by the thread that got it.
  size_t start = g_boot_used.load(std::memory_order_relaxed);
  size_t data;
  do {
    data = (start + kBootHeader + align - 1) & ~(align - 1);
    if (data + size > kBootBytes || data + size < data) {
      Die("tidepool: malloc_override: start-up arena exhausted\n");
    }
  } while (!g_boot_used.compare_exchange_weak(start, data + size,
                                              std::memory_order_relaxed));
  std::memcpy(g_boot + data - sizeof(size_t), &size, sizeof(size_t));
  return g_boot + data;
}

size_t BootSize(const void* p) {
  size_t size;
  std::memcpy(&size, static_cast<const char*>(p) - sizeof(size_t),
              sizeof(size_t));
  return size;
}

void Init() {
  char message[512];
  if (ConfigFileError(message, sizeof message)) {
    std::strncat(message, "\n", sizeof message - std::strlen(message) - 1);
    Die(message);
  }
  const char* value = LookupSetting("TIDEPOOL_ALLOCATOR");
  BackendSpec spec;
  if (value != nullptr && !ParseBackendSpec(value, &spec)) {
    std::snprintf(message, sizeof message,
                  "tidepool: TIDEPOOL_ALLOCATOR='%s' is not valid: accepted "
                  "values are %s\n",
                  value, kAcceptedBackends);
    Die(message);
  }
  if (!ResolveMallocOps(spec.kind, &g_ops)) {
    // mimalloc is loaded here, so the loader's reason is worth printing
    // ("cannot open shared object file", a missing symbol...).
    const char* why = spec.kind == Backend::kMimalloc ? dlerror() : nullptr;
    std::snprintf(
        message, sizeof message, "tidepool: TIDEPOOL_ALLOCATOR=%s: %s %s%s\n",
        BackendName(spec.kind), LibraryOf(spec.kind),
        spec.kind == Backend::kMimalloc ? "cannot be loaded: "
                                        : "is not loaded in this program",
        why != nullptr ? why : "");
    Die(message);
  }
  // Must precede the first thread; this is the first allocation.
  if (spec.kind == Backend::kGlibc && spec.arena_max > 0) {
    mallopt(M_ARENA_MAX, spec.arena_max);
  }
  g_spec = spec;
  // release: publishes g_ops and g_spec; pairs with the acquire load in
  // Ready() and the acquire CAS in EnsureReady().
  g_state.store(kReady, std::memory_order_release);
}

// acquire: pairs with the release store in Init(): g_ops and g_spec.
bool Ready() { return g_state.load(std::memory_order_acquire) == kReady; }

// Returns true once the backend is usable; false means "serve from the boot
// arena" (we are inside Init on some thread).
bool EnsureReady() {
  if (Ready()) return true;
  int expected = kUninit;
  // acquire: on failure, a kReady read pairs with Init()'s release store
  // (g_ops is used next); a success reads kUninit, with nothing to acquire.
  if (g_state.compare_exchange_strong(expected, kInitializing,
                                      std::memory_order_acquire)) {
    Init();
    return true;
  }
  return expected == kReady;
}

// Start-up and re-entry only; kept out of line so that the hot paths below
// are a load, a compare and a tail call.
[[gnu::noinline]] void* AllocateSlow(size_t size) {
  if (EnsureReady()) return g_ops.malloc(size);
  return BootAlloc(size, 16);
}

[[gnu::noinline]] void* AllocateAlignedSlow(size_t align, size_t size) {
  if (EnsureReady()) return g_ops.memalign(align, size);
  return BootAlloc(size, align);
}

void* Allocate(size_t size) {
  if (Ready()) [[likely]]
    return g_ops.malloc(size);
  return AllocateSlow(size);
}

void* AllocateAligned(size_t align, size_t size) {
  if (Ready()) [[likely]]
    return g_ops.memalign(align, size);
  return AllocateAlignedSlow(align, size);
}

void Free(void* p) {
  // Nothing but the boot arena can have handed out memory before kReady,
  // and every backend's free accepts null.
  if (Ready() && !IsBoot(p)) [[likely]]
    g_ops.free(p);
}

[[gnu::noinline]] void* AllocateOrThrowSlow(size_t size) {
  while (true) {
    if (void* p = Allocate(size)) return p;
    std::new_handler handler = std::get_new_handler();
    if (handler == nullptr) throw std::bad_alloc();
    handler();
  }
}

void* AllocateOrThrow(size_t size) {
  if (void* p = Allocate(size)) [[likely]]
    return p;
  return AllocateOrThrowSlow(size);
}

void* AllocateAlignedOrThrow(size_t size, std::align_val_t align) {
  while (true) {
    if (void* p = AllocateAligned(static_cast<size_t>(align), size)) return p;
    std::new_handler handler = std::get_new_handler();
    if (handler == nullptr) throw std::bad_alloc();
    handler();
  }
}

}  // namespace

// Read by tidepool::alloc::active_backend() (a weak reference, so that
// programs without the override still link).
extern "C" const BackendSpec* tidepool_malloc_override_spec() {
  return EnsureReady() ? &g_spec : nullptr;
}

}  // namespace tidepool::alloc::internal

using tidepool::alloc::internal::Allocate;
using tidepool::alloc::internal::AllocateAligned;
using tidepool::alloc::internal::AllocateAlignedOrThrow;
using tidepool::alloc::internal::AllocateOrThrow;
using tidepool::alloc::internal::BootSize;
using tidepool::alloc::internal::EnsureReady;
using tidepool::alloc::internal::Free;
using tidepool::alloc::internal::g_ops;
using tidepool::alloc::internal::IsBoot;

extern "C" {

void* malloc(size_t size) { return Allocate(size); }

void free(void* p) { Free(p); }

void* calloc(size_t n, size_t size) {
  if (EnsureReady()) [[likely]]
    return g_ops.calloc(n, size);
  if (size != 0 && n > SIZE_MAX / size) return nullptr;
  return Allocate(n * size);  // the boot arena is zero and never reused
}

void* realloc(void* p, size_t size) {
  if (p != nullptr && IsBoot(p)) {
    void* q = Allocate(size);
    if (q != nullptr) std::memcpy(q, p, std::min(size, BootSize(p)));
    return q;
  }
  if (EnsureReady()) [[likely]]
    return g_ops.realloc(p, size);
  return Allocate(size);
}

void* memalign(size_t align, size_t size) {
  return AllocateAligned(align, size);
}

int posix_memalign(void** out, size_t align, size_t size) {
  if (align < sizeof(void*) || (align & (align - 1)) != 0) return EINVAL;
  if (EnsureReady()) [[likely]]
    return g_ops.posix_memalign(out, align, size);
  *out = AllocateAligned(align, size);
  return 0;
}

void* aligned_alloc(size_t align, size_t size) {
  return AllocateAligned(align, size);
}

void* valloc(size_t size) {
  return AllocateAligned(static_cast<size_t>(sysconf(_SC_PAGESIZE)), size);
}

void* pvalloc(size_t size) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return AllocateAligned(page, (size + page - 1) & ~(page - 1));
}

size_t malloc_usable_size(void* p) {
  if (p == nullptr) return 0;
  if (IsBoot(p)) return BootSize(p);
  return g_ops.malloc_usable_size(p);
}

}  // extern "C"

void* operator new(size_t size) { return AllocateOrThrow(size); }
void* operator new[](size_t size) { return AllocateOrThrow(size); }
void* operator new(size_t size, const std::nothrow_t&) noexcept {
  return Allocate(size);
}
void* operator new[](size_t size, const std::nothrow_t&) noexcept {
  return Allocate(size);
}
void* operator new(size_t size, std::align_val_t align) {
  return AllocateAlignedOrThrow(size, align);
}
void* operator new[](size_t size, std::align_val_t align) {
  return AllocateAlignedOrThrow(size, align);
}
void* operator new(size_t size, std::align_val_t align,
                   const std::nothrow_t&) noexcept {
  return AllocateAligned(static_cast<size_t>(align), size);
}
void* operator new[](size_t size, std::align_val_t align,
                     const std::nothrow_t&) noexcept {
  return AllocateAligned(static_cast<size_t>(align), size);
}
void operator delete(void* p) noexcept { Free(p); }
void operator delete[](void* p) noexcept { Free(p); }
void operator delete(void* p, size_t) noexcept { Free(p); }
void operator delete[](void* p, size_t) noexcept { Free(p); }
void operator delete(void* p, std::align_val_t) noexcept { Free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { Free(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { Free(p); }
void operator delete[](void* p, size_t, std::align_val_t) noexcept { Free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { Free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { Free(p); }
void operator delete(void* p, std::align_val_t,
                     const std::nothrow_t&) noexcept {
  Free(p);
}
void operator delete[](void* p, std::align_val_t,
                       const std::nothrow_t&) noexcept {
  Free(p);
}
