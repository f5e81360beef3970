// Exceptions of tasks and blocking calls nobody awaits go to the runtime's
// unhandled-exception handler, once each; awaited ones and cancellations
// never do; a worker survives them all.
#include "runtime/unhandled_exception.h"

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/internal/mutex.h"
#include "runtime/runtime.h"

namespace tidepool {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

// Records what the handler was given.
class Recorder {
 public:
  struct Entry {
    std::string what;
    uint64_t task_id;
    bool blocking;
  };

  std::function<void(const UnhandledException&)> Handler() {
    return [this](const UnhandledException& e) {
      std::string what;
      try {
        std::rethrow_exception(e.exception);
      } catch (const std::exception& ex) {
        what = ex.what();
      } catch (...) {
        what = "?";
      }
      internal::MutexLock lock(&mu_);
      entries_.push_back({what, e.task_id, e.blocking});
    };
  }

  std::vector<Entry> entries() {
    internal::MutexLock lock(&mu_);
    return entries_;
  }

  // Waits (up to 30 s) until `n` entries are in.
  std::vector<Entry> WaitFor(size_t n) {
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (entries().size() < n &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(1ms);
    }
    return entries();
  }

 private:
  internal::Mutex mu_;
  std::vector<Entry> entries_ ABSL_GUARDED_BY(mu_);
};

Runtime MakeRuntime(Recorder& r) {
  absl::StatusOr<Runtime> rt =
      Builder().worker_threads(2).on_unhandled_exception(r.Handler()).build();
  EXPECT_TRUE(rt.ok()) << rt.status();
  return *std::move(rt);
}

// Waits (up to 30 s) until `rt` has counted an unhandled exception.
void WaitForAReport(Runtime& rt) {
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (rt.metrics().unhandled_exceptions == 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
}

Task<int> Throws(std::string what) {
  co_await yield_now();
  throw std::runtime_error(what);
}

Task<int> Sleeps() {
  co_await sleep(1h);
  co_return 0;
}

TEST(UnhandledExceptionTest, DetachedTaskReportsItsExceptionOnce) {
  Recorder r;
  Runtime rt = MakeRuntime(r);
  JoinHandle<int> h = rt.spawn(Throws("boom"));
  const uint64_t id = h.id();
  h.detach();
  EXPECT_FALSE(h.valid());
  std::vector<Recorder::Entry> got = r.WaitFor(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].what, "boom");
  EXPECT_EQ(got[0].task_id, id);
  EXPECT_FALSE(got[0].blocking);
  // The worker that ran it goes on running tasks.
  auto ok = []() -> Task<int> { co_return 7; };
  EXPECT_EQ(rt.block_on(ok()), 7);
  EXPECT_EQ(rt.metrics().unhandled_exceptions, 1u);
  EXPECT_EQ(r.entries().size(), 1u);
}

TEST(UnhandledExceptionTest, DroppingTheHandleOfAFailedTaskReportsIt) {
  Recorder r;
  Runtime rt = MakeRuntime(r);
  {
    JoinHandle<int> h = rt.spawn(Throws("late"));
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (!h.is_finished()) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline);
      std::this_thread::sleep_for(1ms);
    }
    EXPECT_TRUE(r.entries().empty()) << "reported while still awaitable";
  }
  std::vector<Recorder::Entry> got = r.WaitFor(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].what, "late");
}

TEST(UnhandledExceptionTest, DetachedBlockingCallReportsItsException) {
  Recorder r;
  Runtime rt = MakeRuntime(r);
  JoinHandle<int> h = rt.spawn_blocking(
      []() -> int { throw std::invalid_argument("blocking boom"); });
  const uint64_t id = h.id();
  h.detach();
  std::vector<Recorder::Entry> got = r.WaitFor(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].what, "blocking boom");
  EXPECT_EQ(got[0].task_id, id);
  EXPECT_TRUE(got[0].blocking);
}

TEST(UnhandledExceptionTest, AwaitedExceptionsAndCancellationsAreNotReported) {
  Recorder r;
  {
    Runtime rt = MakeRuntime(r);
    auto body = []() -> Task<int> {
      int caught = 0;
      try {
        co_await spawn(Throws("awaited"));
      } catch (const std::runtime_error&) {
        ++caught;
      }
      try {
        co_await spawn_blocking([]() -> int { throw std::runtime_error("b"); });
      } catch (const std::runtime_error&) {
        ++caught;
      }
      JoinHandle<int> aborted = spawn(Sleeps());
      aborted.abort();
      try {
        co_await aborted;
      } catch (const TaskCancelled&) {
        ++caught;
      }
      // Aborted and dropped unawaited.
      spawn(Sleeps()).abort();
      co_return caught;
    };
    EXPECT_EQ(rt.block_on(body()), 3);
    // Still pending at shutdown: cancelled, not reported.
    rt.spawn(Sleeps()).detach();
    EXPECT_EQ(rt.metrics().unhandled_exceptions, 0u);
  }
  EXPECT_TRUE(r.entries().empty());
}

TEST(UnhandledExceptionTest, DefaultHandlerPrintsWhatAndTaskId) {
  uint64_t id = 0;
  ::testing::internal::CaptureStderr();
  {
    absl::StatusOr<Runtime> rt = Builder().worker_threads(1).build();
    ASSERT_TRUE(rt.ok());
    JoinHandle<int> h = rt->spawn(Throws("printed"));
    id = h.id();
    h.detach();
    WaitForAReport(*rt);
    // The report is counted before the handler prints it: the runtime's
    // shutdown joins the worker, and with it the print.
  }
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(err, HasSubstr("tidepool: task " + std::to_string(id) +
                             " ended with an unhandled exception: printed"));
}

TEST(UnhandledExceptionTest, AHandlerThatThrowsIsReportedAndSurvived) {
  absl::StatusOr<Runtime> rt =
      Builder()
          .worker_threads(1)
          .on_unhandled_exception([](const UnhandledException&) {
            throw std::logic_error("handler failed");
          })
          .build();
  ASSERT_TRUE(rt.ok());
  ::testing::internal::CaptureStderr();
  rt->spawn(Throws("x")).detach();
  WaitForAReport(*rt);
  auto ok = []() -> Task<int> { co_return 1; };
  EXPECT_EQ(rt->block_on(ok()), 1);
  EXPECT_THAT(::testing::internal::GetCapturedStderr(),
              HasSubstr("the unhandled-exception handler threw: "
                        "handler failed"));
}

TEST(UnhandledExceptionDeathTest, AbortHandlerStopsTheProcess) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        absl::StatusOr<Runtime> rt =
            Builder()
                .worker_threads(1)
                .on_unhandled_exception(AbortOnUnhandledException)
                .build();
        rt->spawn(Throws("fatal")).detach();
        std::this_thread::sleep_for(30s);
      },
      "ended with an unhandled exception: fatal");
}

TEST(UnhandledExceptionTest, EmptyHandlerIsRejected) {
  absl::StatusOr<Runtime> rt =
      Builder().on_unhandled_exception(nullptr).build();
  ASSERT_FALSE(rt.ok());
  EXPECT_EQ(rt.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(rt.status().message()),
              HasSubstr("on_unhandled_exception"));
}

TEST(UnhandledExceptionTest, IdsAreDistinctAndEmptyHandlesHaveNone) {
  absl::StatusOr<Runtime> rt = Builder().worker_threads(1).build();
  ASSERT_TRUE(rt.ok());
  JoinHandle<int> a = rt->spawn(Sleeps());
  JoinHandle<int> b = rt->spawn(Sleeps());
  EXPECT_NE(a.id(), 0u);
  EXPECT_NE(a.id(), b.id());
  EXPECT_EQ(JoinHandle<int>().id(), 0u);
}

}  // namespace
}  // namespace tidepool
