#ifndef TIDEPOOL_ALLOC_INTERNAL_BACKEND_IMPL_H_
#define TIDEPOOL_ALLOC_INTERNAL_BACKEND_IMPL_H_

#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "alloc/alloc.h"

namespace tidepool::alloc::internal {

// What each backend does for the thread hooks, trim and stats. One instance
// per process, for the backend that serves malloc; its methods may be called
// from any thread at once.
class BackendImpl {
 public:
  virtual ~BackendImpl() = default;
  virtual absl::Status Configure(const Policy& policy) = 0;
  virtual void BindThread(ThreadRole) {}
  virtual void ThreadIdle(ThreadRole) {}
  virtual void ThreadExit(ThreadRole) {}
  virtual void Trim() = 0;
  virtual void FillStats(Stats* stats) = 0;
  // alloc::InUseBytes() for this backend.
  virtual int64_t InUseBytes() = 0;
};

std::unique_ptr<BackendImpl> MakeGlibcBackend();
std::unique_ptr<BackendImpl> MakeJemallocBackend();
std::unique_ptr<BackendImpl> MakeMimallocBackend();

}  // namespace tidepool::alloc::internal

#endif  // TIDEPOOL_ALLOC_INTERNAL_BACKEND_IMPL_H_
