#include "runtime/internal/budget_admission.h"

#include <algorithm>
#include <mutex>
#include <utility>

#include "alloc/alloc.h"

namespace tidepool::internal {
namespace {

// The test hook's source; empty when none is set. std::mutex: set and read
// only around Builder::build(), never on a hot path.
std::mutex g_source_mu;
std::function<int64_t()>& TestSource() {
  static auto* source = new std::function<int64_t()>;
  return *source;
}

}  // namespace

BudgetAdmission::BudgetAdmission(size_t budget, int64_t first_sample,
                                 size_t cpus)
    : budget_(budget), cpus_(std::max<size_t>(cpus, 1)) {
  BeginSample(Clock::now());
  OnSample(first_sample);
}

bool BudgetAdmission::TryAdmit(TaskHeader* task) {
  if (waiting_.empty() && (unfinished_ == 0 || unfinished_ < limit_)) {
    ++unfinished_;
    return true;
  }
  waiting_.push_back({task, Clock::now()});
  return false;
}

TaskHeader* BudgetAdmission::Finished() {
  --unfinished_;
  return AdmitWaiting();
}

TaskHeader* BudgetAdmission::AdmitWaiting() {
  return Admissible() ? AdmitOldest() : nullptr;
}

TaskHeader* BudgetAdmission::AdmitOldest() {
  const Waiter w = waiting_.front();
  waiting_.pop_front();
  ++unfinished_;
  ++waited_;
  wait_ns_ += std::chrono::duration_cast<std::chrono::nanoseconds>(
                  Clock::now() - w.since)
                  .count();
  return w.task;
}

bool BudgetAdmission::SampleDue(Clock::time_point now) const {
  return now - last_sample_ >= std::max(kBusySamplePeriod, spacing_);
}

std::chrono::nanoseconds BudgetAdmission::WatchPeriod() const {
  return std::max(kWatchPeriod, spacing_);
}

void BudgetAdmission::BeginSample(Clock::time_point now) { last_sample_ = now; }

void BudgetAdmission::OnSample(int64_t in_use, std::chrono::nanoseconds took) {
  ++samples_;
  spacing_ = took * kSampleSpacingFactor;
  if (in_use < 0) return;
  in_use_ = in_use;
  const uint64_t bytes = static_cast<uint64_t>(in_use);
  if (bytes >= budget_) {
    limit_ = 0;
  } else if (bytes >= budget_ / 8 * 7) {
    limit_ = std::max(unfinished_, cpus_);
  } else if (bytes >= budget_ / 2) {
    limit_ = std::max(unfinished_ + 1, cpus_);
  } else {
    limit_ = std::max(2 * unfinished_ + 1, cpus_);
  }
}

bool BudgetAdmission::UnderPressure() const {
  // Both below 2^62: no overflow.
  return static_cast<uint64_t>(in_use_) * 4 >= uint64_t{budget_} * 3;
}

std::deque<TaskHeader*> BudgetAdmission::TakeWaiting() {
  std::deque<TaskHeader*> out;
  for (const Waiter& w : waiting_) out.push_back(w.task);
  waiting_.clear();
  return out;
}

MemoryBudgetMetrics BudgetAdmission::Metrics() const {
  MemoryBudgetMetrics m;
  m.budget = budget_;
  m.in_use = in_use_;
  m.pressure = static_cast<double>(in_use_) / static_cast<double>(budget_);
  m.limit = limit_;
  m.waiting = waiting_.size();
  m.waited = waited_;
  m.wait_ns = wait_ns_;
  m.samples = samples_;
  m.trims = trims_;
  return m;
}

std::function<int64_t()> BudgetInUseSource() {
  std::lock_guard<std::mutex> lock(g_source_mu);
  if (TestSource()) return TestSource();
  return [] { return alloc::InUseBytes(); };
}

ScopedInUseSourceForTesting::ScopedInUseSourceForTesting(
    std::function<int64_t()> source) {
  std::lock_guard<std::mutex> lock(g_source_mu);
  TestSource() = std::move(source);
}

ScopedInUseSourceForTesting::~ScopedInUseSourceForTesting() {
  std::lock_guard<std::mutex> lock(g_source_mu);
  TestSource() = nullptr;
}

}  // namespace tidepool::internal
