#include "runtime/internal/unhandled_sink.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "runtime/internal/mutex.h"

namespace tidepool {
namespace {

std::string Describe(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return ex.what();
  } catch (...) {
    return "an exception not derived from std::exception";
  }
}

}  // namespace

void ReportUnhandledException(const UnhandledException& e) {
  std::fprintf(stderr,
               "tidepool: %s %llu ended with an unhandled exception: %s\n",
               e.blocking ? "blocking call" : "task",
               static_cast<unsigned long long>(e.task_id),
               Describe(e.exception).c_str());
}

void AbortOnUnhandledException(const UnhandledException& e) {
  ReportUnhandledException(e);
  std::abort();
}

namespace internal {
namespace {

struct Registry {
  Mutex mu;
  uint32_t next_id ABSL_GUARDED_BY(mu) = 1;
  absl::flat_hash_map<uint32_t, std::shared_ptr<UnhandledSink>> sinks
      ABSL_GUARDED_BY(mu);
};

// Never destroyed: task cells may be freed during static destruction.
Registry& TheRegistry() {
  static Registry* const registry = new Registry;
  return *registry;
}

}  // namespace

uint32_t RegisterUnhandledSink(std::shared_ptr<UnhandledSink> sink) {
  Registry& r = TheRegistry();
  MutexLock lock(&r.mu);
  const uint32_t id = r.next_id++;
  r.sinks.emplace(id, std::move(sink));
  return id;
}

void UnregisterUnhandledSink(uint32_t runtime_id) {
  Registry& r = TheRegistry();
  MutexLock lock(&r.mu);
  r.sinks.erase(runtime_id);
}

void ReportUnhandled(uint32_t runtime_id, std::exception_ptr error,
                     uint64_t task_id, bool blocking) noexcept {
  std::shared_ptr<UnhandledSink> sink;
  {
    Registry& r = TheRegistry();
    MutexLock lock(&r.mu);
    if (auto it = r.sinks.find(runtime_id); it != r.sinks.end()) {
      sink = it->second;
    }
  }
  const UnhandledException e{std::move(error), task_id, blocking};
  if (sink == nullptr) {
    ReportUnhandledException(e);
    return;
  }
  // relaxed: a statistic (UnhandledSink::count).
  sink->count.fetch_add(1, std::memory_order_relaxed);
  // Outside the registry's lock: the handler may spawn, or drop handles of
  // other failed tasks.
  try {
    sink->handler(e);
  } catch (...) {
    std::fprintf(stderr,
                 "tidepool: the unhandled-exception handler threw: %s\n",
                 Describe(std::current_exception()).c_str());
  }
}

}  // namespace internal
}  // namespace tidepool
