#ifndef TIDEPOOL_TESTS_RUNTIME_NET_NET_TEST_UTIL_H_
#define TIDEPOOL_TESTS_RUNTIME_NET_NET_TEST_UTIL_H_

// What the socket tests share: a fixture run once per I/O driver (both
// must behave the same), aborting a task, and unique Unix socket names.
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <string_view>

#include "gtest/gtest.h"
#include "runtime/runtime.h"

namespace tidepool::testing {

// TEST_P fixtures: GetParam() is the driver, "uring" or "epoll".
class DriverTest : public ::testing::TestWithParam<std::string> {
 protected:
  Runtime MakeRuntime(size_t workers = 2) {
    auto rt = Builder()
                  .worker_threads(workers)
                  .io_driver(*ParseIoDriverKind(GetParam()))
                  .build();
    EXPECT_TRUE(rt.ok()) << rt.status();
    return *std::move(rt);
  }
};

#define TIDEPOOL_INSTANTIATE_FOR_DRIVERS(Suite)                 \
  INSTANTIATE_TEST_SUITE_P(Drivers, Suite,                      \
                           ::testing::Values("uring", "epoll"), \
                           [](const auto& info) { return info.param; })

// Aborts the task behind `h` and waits until it is gone.
inline Task<void> AbortAndWait(JoinHandle<void>& h) {
  h.abort();
  try {
    co_await h;
  } catch (const TaskCancelled&) {
  }
}

// Awaits the task behind `h`; whether it ended cancelled (TaskCancelled).
inline Task<bool> EndedCancelled(JoinHandle<void>& h) {
  try {
    co_await h;
  } catch (const TaskCancelled&) {
    co_return true;
  }
  co_return false;
}

// A name no other test (or run) of this process uses: "<tag>-<pid>-<n>".
inline std::string UniqueName(std::string_view tag) {
  static std::atomic<int> counter{0};
  return std::string(tag) + "-" + std::to_string(getpid()) + "-" +
         std::to_string(counter.fetch_add(1));
}

// A socket file path in the temporary directory, removed first if a
// crashed run left it.
inline std::string TempSocketPath(std::string_view tag) {
  const std::string path =
      (std::filesystem::temp_directory_path() / (UniqueName(tag) + ".sock"))
          .string();
  unlink(path.c_str());
  return path;
}

}  // namespace tidepool::testing

#endif  // TIDEPOOL_TESTS_RUNTIME_NET_NET_TEST_UTIL_H_
