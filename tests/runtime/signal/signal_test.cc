// Signal and signal::ctrl_c on both I/O drivers. main()
// (tests/util/signal_blocking_main.cc) blocks the signals
// before any thread exists, as signal.h tells programs to, so a signal sent
// here never runs a default action and stays pending for the signalfd.
// Every test sends with kill() to the process and receives what it sent,
// so that nothing is left pending for the next test.
#include "runtime/signal/signal.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <string>
#include <utility>

#include "gtest/gtest.h"
#include "runtime/runtime.h"

namespace tidepool {
namespace {

template <typename T>
Task<T> Join(JoinHandle<T> h) {
  co_return co_await std::move(h);
}

class SignalTest : public ::testing::TestWithParam<std::string> {
 protected:
  Runtime MakeRuntime() {
    auto rt = Builder()
                  .worker_threads(2)
                  .io_driver(*ParseIoDriverKind(GetParam()))
                  .build();
    EXPECT_TRUE(rt.ok()) << rt.status();
    return *std::move(rt);
  }
};

TEST(SignalListen, RejectsOtherSignalsNamingTheAcceptedOnes) {
  for (int signo : {SIGKILL, SIGSEGV, SIGCHLD, 0, 1000}) {
    absl::StatusOr<Signal> s = Signal::listen(signo);
    ASSERT_FALSE(s.ok());
    EXPECT_TRUE(absl::IsInvalidArgument(s.status())) << s.status();
    EXPECT_NE(s.status().message().find("SIGTERM"), std::string::npos);
  }
}

TEST_P(SignalTest, SignalSentBeforeTheFirstRecvIsReceived) {
  Runtime rt = MakeRuntime();
  absl::StatusOr<Signal> usr1 = Signal::listen(SIGUSR1);
  ASSERT_TRUE(usr1.ok()) << usr1.status();
  EXPECT_EQ(usr1->signo(), SIGUSR1);
  ASSERT_EQ(kill(getpid(), SIGUSR1), 0);
  absl::Status got = rt.block_on(usr1->recv());
  EXPECT_TRUE(got.ok()) << got;
}

TEST_P(SignalTest, ListenInsideATaskThenReceive) {
  Runtime rt = MakeRuntime();
  absl::Status got = rt.block_on([]() -> Task<absl::Status> {
    absl::StatusOr<Signal> usr2 = Signal::listen(SIGUSR2);
    if (!usr2.ok()) co_return usr2.status();
    kill(getpid(), SIGUSR2);
    co_return co_await usr2->recv();
  }());
  EXPECT_TRUE(got.ok()) << got;
}

TEST_P(SignalTest, EveryListenerGetsTheDelivery) {
  Runtime rt = MakeRuntime();
  absl::StatusOr<Signal> a = Signal::listen(SIGHUP);
  absl::StatusOr<Signal> b = Signal::listen(SIGHUP);
  ASSERT_TRUE(a.ok() && b.ok());
  // Both wait before the signal is sent.
  JoinHandle<absl::Status> ha = rt.spawn(a->recv());
  JoinHandle<absl::Status> hb = rt.spawn(b->recv());
  ASSERT_EQ(kill(getpid(), SIGHUP), 0);
  auto both = [](JoinHandle<absl::Status> x,
                 JoinHandle<absl::Status> y) -> Task<bool> {
    absl::Status sx = co_await std::move(x);
    absl::Status sy = co_await std::move(y);
    co_return sx.ok() && sy.ok();
  };
  EXPECT_TRUE(rt.block_on(both(std::move(ha), std::move(hb))));
}

TEST_P(SignalTest, ListenerMadeAfterTheDeliveryWasReadDoesNotGetIt) {
  Runtime rt = MakeRuntime();
  absl::StatusOr<Signal> first = Signal::listen(SIGUSR1);
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(kill(getpid(), SIGUSR1), 0);
  ASSERT_TRUE(rt.block_on(first->recv()).ok());
  // The delivery was read and counted for `first` only; the next one is
  // counted for both.
  absl::StatusOr<Signal> late = Signal::listen(SIGUSR1);
  ASSERT_TRUE(late.ok());
  JoinHandle<absl::Status> h = rt.spawn(late->recv());
  ASSERT_EQ(kill(getpid(), SIGUSR1), 0);
  EXPECT_TRUE(rt.block_on(Join(std::move(h))).ok());
  EXPECT_TRUE(rt.block_on(first->recv()).ok());
}

TEST_P(SignalTest, DroppingTheListenerWhileATaskWaitsCancelsTheRecv) {
  Runtime rt = MakeRuntime();
  absl::StatusOr<Signal> s = Signal::listen(SIGUSR2);
  ASSERT_TRUE(s.ok());
  absl::Status got = rt.block_on([](Signal sig) -> Task<absl::Status> {
    JoinHandle<absl::Status> h = spawn(sig.recv());
    for (int i = 0; i < 10; ++i) co_await yield_now();
    { Signal dropped = std::move(sig); }
    co_return co_await std::move(h);
  }(*std::move(s)));
  EXPECT_TRUE(absl::IsCancelled(got)) << got;
}

TEST_P(SignalTest, AbortingAWaitingRecvLeavesTheListenerUsable) {
  Runtime rt = MakeRuntime();
  absl::StatusOr<Signal> s = Signal::listen(SIGUSR1);
  ASSERT_TRUE(s.ok());
  absl::Status got = rt.block_on([](Signal& sig) -> Task<absl::Status> {
    JoinHandle<absl::Status> h = spawn(sig.recv());
    for (int i = 0; i < 10; ++i) co_await yield_now();
    h.abort();
    try {
      (void)co_await std::move(h);
    } catch (const TaskCancelled&) {
    }
    kill(getpid(), SIGUSR1);
    co_return co_await sig.recv();
  }(*s));
  EXPECT_TRUE(got.ok()) << got;
}

TEST_P(SignalTest, ListenerSurvivesTheRuntimeThatReadForIt) {
  absl::StatusOr<Signal> s = Signal::listen(SIGUSR2);
  ASSERT_TRUE(s.ok());
  {
    Runtime rt = MakeRuntime();
    ASSERT_EQ(kill(getpid(), SIGUSR2), 0);
    ASSERT_TRUE(rt.block_on(s->recv()).ok());
  }
  Runtime rt = MakeRuntime();
  ASSERT_EQ(kill(getpid(), SIGUSR2), 0);
  EXPECT_TRUE(rt.block_on(s->recv()).ok());
}

TEST_P(SignalTest, CtrlC) {
  Runtime rt = MakeRuntime();
  // SIGINT stays pending (blocked everywhere) until ctrl_c() listens and
  // reads it, whichever comes first.
  JoinHandle<absl::Status> h = rt.spawn(signal::ctrl_c());
  ASSERT_EQ(kill(getpid(), SIGINT), 0);
  absl::Status got = rt.block_on(Join(std::move(h)));
  EXPECT_TRUE(got.ok()) << got;
}

TEST_P(SignalTest, MovedFromSignalFailsPrecondition) {
  Runtime rt = MakeRuntime();
  absl::StatusOr<Signal> s = Signal::listen(SIGHUP);
  ASSERT_TRUE(s.ok());
  Signal moved = *std::move(s);
  absl::Status got = rt.block_on(s->recv());
  EXPECT_TRUE(absl::IsFailedPrecondition(got)) << got;
}

INSTANTIATE_TEST_SUITE_P(Drivers, SignalTest,
                         ::testing::Values("uring", "epoll"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace tidepool
