#include "alloc/alloc.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "alloc/internal/backend_impl.h"

// Defined by //alloc:malloc_override; null when it is not linked.
extern "C" const tidepool::alloc::BackendSpec* tidepool_malloc_override_spec()
    __attribute__((weak));

namespace tidepool::alloc {
namespace {

BackendSpec Detect() {
  if (tidepool_malloc_override_spec != nullptr) {
    if (const BackendSpec* spec = tidepool_malloc_override_spec()) return *spec;
  }
  // Otherwise: whichever library the dynamic linker bound `malloc` to.
  Dl_info info;
  void* owner = dlsym(RTLD_DEFAULT, "malloc");
  if (owner == nullptr || dladdr(owner, &info) == 0 ||
      info.dli_fname == nullptr) {
    return {Backend::kUnknown, 0};
  }
  // The file's own name: a directory above it may hold any of the words
  // (an output base named after a branch, say).
  const char* slash = std::strrchr(info.dli_fname, '/');
  const char* path = slash != nullptr ? slash + 1 : info.dli_fname;
  if (std::strstr(path, "jemalloc")) return {Backend::kJemalloc, 0};
  if (std::strstr(path, "mimalloc")) return {Backend::kMimalloc, 0};
  if (std::strstr(path, "libc.so")) return {Backend::kGlibc, 0};
  return {Backend::kUnknown, 0};
}

// The process's allocator never changes, so neither does its backend.
struct State {
  BackendSpec spec = Detect();
  std::unique_ptr<internal::BackendImpl> impl = Make(spec.kind);
  // Guards policy. std::mutex rather than absl::Mutex: Debian's absl is not
  // built for ThreadSanitizer (see docs/architecture.md, "Locks").
  std::mutex mu;
  Policy policy = DefaultPolicy();
  // For Stats::trims and Stats::trim_released. relaxed: statistics, read
  // without ordering against anything else.
  std::atomic<uint64_t> trims{0};
  std::atomic<int64_t> trim_released{0};

  static std::unique_ptr<internal::BackendImpl> Make(Backend kind) {
    switch (kind) {
      case Backend::kGlibc:
        return internal::MakeGlibcBackend();
      case Backend::kJemalloc:
        return internal::MakeJemallocBackend();
      case Backend::kMimalloc:
        return internal::MakeMimallocBackend();
      case Backend::kUnknown:
        break;
    }
    return nullptr;
  }
};

State& GetState() {
  // Leaked on purpose: threads may call in while the process exits.
  static State* state = new State;
  return *state;
}

}  // namespace

BackendSpec active_backend() { return GetState().spec; }

absl::Status Configure(const Policy& policy) {
  State& s = GetState();
  if (policy.expect.has_value() && *policy.expect != s.spec.kind) {
    return absl::InvalidArgumentError(absl::StrCat(
        "allocator policy expects backend ", BackendName(*policy.expect),
        " but ", BackendName(s.spec.kind),
        " serves malloc in this process (set TIDEPOOL_ALLOCATOR to one of: ",
        kAcceptedBackends, ", with //alloc:malloc_override linked)"));
  }
  if (s.impl != nullptr) {
    if (absl::Status st = s.impl->Configure(policy); !st.ok()) return st;
  }
  std::lock_guard<std::mutex> lock(s.mu);
  s.policy = policy;
  return absl::OkStatus();
}

Policy CurrentPolicy() {
  State& s = GetState();
  std::lock_guard<std::mutex> lock(s.mu);
  return s.policy;
}

void BindThread(ThreadRole role) {
  if (auto& impl = GetState().impl) impl->BindThread(role);
}

void ThreadIdle(ThreadRole role) {
  if (auto& impl = GetState().impl) impl->ThreadIdle(role);
}

void ThreadExit(ThreadRole role) {
  if (auto& impl = GetState().impl) impl->ThreadExit(role);
}

int64_t InUseBytes() {
  auto& impl = GetState().impl;
  return impl != nullptr ? impl->InUseBytes() : -1;
}

namespace {

// Resident pages of the process from /proc/self/statm: all of them, and
// those not backed by a file (resident - shared). Raw read: no stdio
// buffer, so it can run on any thread at any time. False if unreadable.
bool ReadStatm(int64_t* resident, int64_t* anonymous) {
  const int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[128];
  const ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  long long size = 0, pages = 0, shared = 0;
  if (std::sscanf(buf, "%lld %lld %lld", &size, &pages, &shared) != 3) {
    return false;
  }
  const int64_t page = sysconf(_SC_PAGESIZE);
  *resident = pages * page;
  *anonymous = (pages - shared) * page;
  return true;
}

}  // namespace

int64_t ResidentBytes() {
  int64_t resident, anonymous;
  return ReadStatm(&resident, &anonymous) ? resident : -1;
}

int64_t AnonymousResidentBytes() {
  int64_t resident, anonymous;
  return ReadStatm(&resident, &anonymous) ? anonymous : -1;
}

TrimResult trim() {
  TrimResult r;
  r.resident_before = ResidentBytes();
  if (auto& impl = GetState().impl) impl->Trim();
  r.resident_after = ResidentBytes();
  r.released = std::max<int64_t>(0, r.resident_before - r.resident_after);
  GetState().trims.fetch_add(1, std::memory_order_relaxed);
  GetState().trim_released.fetch_add(r.released, std::memory_order_relaxed);
  return r;
}

bool TrimCoalesced(std::chrono::milliseconds min_interval) {
  static std::mutex trimming;
  static std::chrono::steady_clock::time_point last;  // guarded by trimming
  std::unique_lock<std::mutex> lock(trimming, std::try_to_lock);
  if (!lock.owns_lock()) return false;
  const auto now = std::chrono::steady_clock::now();
  if (last.time_since_epoch().count() != 0 && now - last < min_interval) {
    return false;
  }
  trim();
  last = std::chrono::steady_clock::now();
  return true;
}

Stats stats() {
  Stats s;
  s.backend = GetState().spec.kind;
  if (auto& impl = GetState().impl) impl->FillStats(&s);
  s.resident = ResidentBytes();
  s.trims = GetState().trims.load(std::memory_order_relaxed);
  s.trim_released = GetState().trim_released.load(std::memory_order_relaxed);
  if (s.allocated >= 0 && s.arena > 0) {
    s.utilization = static_cast<double>(s.allocated) / s.arena;
  }
  return s;
}

}  // namespace tidepool::alloc
