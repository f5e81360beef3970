#include "runtime/sync/try_result.h"

#include <memory>
#include <stdexcept>
#include <string>

#include "gtest/gtest.h"

namespace tidepool {
namespace {

TEST(TryResultTest, HoldsTheValue) {
  TryResult<std::string, TryRecvError> r(std::string("abc"));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(static_cast<bool>(r));
  EXPECT_EQ(*r, "abc");
  EXPECT_EQ(r->size(), 3u);
  EXPECT_THROW((void)r.error(), std::logic_error);
  EXPECT_EQ(std::move(r).value_or("x"), "abc");
}

TEST(TryResultTest, HoldsTheReasonAndRefusesTheValue) {
  TryResult<std::unique_ptr<int>, TryRecvError> r(TryRecvError::kClosed);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), TryRecvError::kClosed);
  EXPECT_THROW((void)r.value(), std::logic_error);
  EXPECT_EQ(std::move(r).value_or(nullptr), nullptr);
}

TEST(TryResultTest, MovesAMoveOnlyValueOut) {
  TryResult<std::unique_ptr<int>, TryRecvError> r(std::make_unique<int>(7));
  std::unique_ptr<int> v = *std::move(r);
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(*v, 7);
}

TEST(TryResultTest, VoidResultSaysOnlyWhetherItWorked) {
  TryResult<void, TrySendError> sent;
  EXPECT_TRUE(sent.ok());
  EXPECT_THROW((void)sent.error(), std::logic_error);
  TryResult<void, TrySendError> full(TrySendError::kFull);
  EXPECT_FALSE(full.ok());
  EXPECT_EQ(full.error(), TrySendError::kFull);
}

}  // namespace
}  // namespace tidepool
