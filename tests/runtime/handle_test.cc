// Handle: spawn and block_on from other threads, Handle::current() inside
// the runtime, and a clear error once the Runtime is gone.
#include "runtime/handle.h"

#include <optional>
#include <stdexcept>
#include <thread>

#include "gtest/gtest.h"
#include "runtime/runtime.h"

namespace tidepool {
namespace {

Task<int> Seven() { co_return 7; }

TEST(HandleTest, SpawnsAndBlocksFromAnotherThread) {
  auto rt = Builder().worker_threads(2).build();
  ASSERT_TRUE(rt.ok());
  const Handle h = rt->handle();
  int got = 0;
  std::thread other([h, &got] {
    JoinHandle<int> j = h.spawn(Seven());
    got = h.block_on([](JoinHandle<int> j) -> Task<int> {
      co_return co_await j + 1;
    }(std::move(j)));
  });
  other.join();
  EXPECT_EQ(got, 8);
  JoinHandle<int> b = h.spawn_blocking([] { return 3; });
  EXPECT_EQ(rt->block_on([](JoinHandle<int> b) -> Task<int> {
    co_return co_await b;
  }(std::move(b))),
            3);
}

TEST(HandleTest, CurrentIsTheRuntimeOfTheCallingTask) {
  auto rt = Builder().worker_threads(1).build();
  ASSERT_TRUE(rt.ok());
  EXPECT_THROW(Handle::current(), std::logic_error);
  const int got = rt->block_on([]() -> Task<int> {
    Handle h = Handle::current();
    co_return co_await h.spawn(Seven());
  }());
  EXPECT_EQ(got, 7);
  // A blocking call belongs to the runtime too, and may block on it (it
  // holds a pool thread, not a worker).
  const int blocking = rt->block_on([]() -> Task<int> {
    co_return co_await spawn_blocking(
        [] { return Handle::current().block_on(Seven()); });
  }());
  EXPECT_EQ(blocking, 7);
}

TEST(HandleTest, BlockOnInsideATaskIsMisuse) {
  auto rt = Builder().worker_threads(1).build();
  ASSERT_TRUE(rt.ok());
  const Handle h = rt->handle();
  EXPECT_THROW(rt->block_on([](Handle h) -> Task<int> {
    co_return h.block_on(Seven());
  }(h)),
               std::logic_error);
}

TEST(HandleTest, UsingAHandleAfterItsRuntimeIsGoneThrows) {
  std::optional<Handle> h;
  {
    auto rt = Builder().worker_threads(1).build();
    ASSERT_TRUE(rt.ok());
    h = rt->handle();
  }
  EXPECT_THROW((void)h->spawn(Seven()), std::logic_error);
  EXPECT_THROW(h->block_on(Seven()), std::logic_error);
  EXPECT_THROW((void)h->spawn_blocking([] { return 1; }), std::logic_error);
}

}  // namespace
}  // namespace tidepool
