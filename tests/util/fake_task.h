#ifndef TIDEPOOL_TESTS_UTIL_FAKE_TASK_H_
#define TIDEPOOL_TESTS_UTIL_FAKE_TASK_H_

// A task cell for testing the runtime's internal containers on their own:
// never polled, it records its destruction.

#include <atomic>

#include "runtime/internal/task_header.h"

namespace tidepool::testing {

class FakeTask final : public internal::TaskHeader {
 public:
  // `refs`: the references the test hands out (one per container holding
  // it, say).
  explicit FakeTask(std::atomic<bool>* destroyed, uint32_t refs = 1)
      : TaskHeader(nullptr, refs), destroyed_(destroyed) {}
  bool Poll() override { return true; }

 protected:
  void DestroyFrame() override {}
  void StoreCancelled() override {}

 private:
  ~FakeTask() override { destroyed_->store(true); }
  std::atomic<bool>* destroyed_;
};

}  // namespace tidepool::testing

#endif  // TIDEPOOL_TESTS_UTIL_FAKE_TASK_H_
