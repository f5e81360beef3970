// Signal::listen's safety net (signal.h, "Threads"): here main() does not
// block the signals, and sits in block_on() while a task listens, so the
// delivery first reaches the main thread, whose handler passes it on to the
// signalfd. Without the safety net the default action would end the test.
#include <signal.h>
#include <unistd.h>

#include <string>

#include "gtest/gtest.h"
#include "runtime/runtime.h"

namespace tidepool {
namespace {

class SignalForwardTest : public ::testing::TestWithParam<std::string> {};

TEST_P(SignalForwardTest, MainThreadThatDoesNotBlockPassesTheSignalOn) {
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
  GTEST_SKIP() << "ThreadSanitizer defers signal handlers (signal.h)";
#endif
#endif
  // The first run's handler may have blocked SIGUSR1 in this thread:
  // unblock it, so each run starts from the same state.
  sigset_t one;
  sigemptyset(&one);
  sigaddset(&one, SIGUSR1);
  pthread_sigmask(SIG_UNBLOCK, &one, nullptr);
  auto rt = Builder()
                .worker_threads(2)
                .io_driver(*ParseIoDriverKind(GetParam()))
                .build();
  ASSERT_TRUE(rt.ok()) << rt.status();
  absl::Status got = rt->block_on([]() -> Task<absl::Status> {
    absl::StatusOr<Signal> usr1 = Signal::listen(SIGUSR1);
    if (!usr1.ok()) co_return usr1.status();
    kill(getpid(), SIGUSR1);
    co_return co_await usr1->recv();
  }());
  EXPECT_TRUE(got.ok()) << got;
}

INSTANTIATE_TEST_SUITE_P(Drivers, SignalForwardTest,
                         ::testing::Values("uring", "epoll"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace tidepool
