// Builder validation and Builder::from_env.
#include "runtime/builder.h"

#include <chrono>
#include <cstdlib>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/runtime.h"

namespace tidepool {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

void ExpectInvalid(const absl::StatusOr<Runtime>& rt, const char* setting) {
  ASSERT_FALSE(rt.ok());
  EXPECT_EQ(rt.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(rt.status().message()), HasSubstr(setting));
  EXPECT_THAT(std::string(rt.status().message()), HasSubstr("accepted values"));
}

TEST(BuilderTest, RejectsBadSettingsNamingThem) {
  ExpectInvalid(Builder().worker_threads(0).build(), "worker_threads=0");
  ExpectInvalid(Builder().worker_threads(5000).build(), "worker_threads=5000");
  ExpectInvalid(Builder().max_blocking_threads(0).build(),
                "max_blocking_threads=0");
  ExpectInvalid(Builder().blocking_parallelism(100001).build(),
                "blocking_parallelism=100001");
  ExpectInvalid(Builder().thread_keep_alive(0ms).build(), "thread_keep_alive");
  ExpectInvalid(Builder().thread_keep_alive(-1ms).build(), "thread_keep_alive");
  ExpectInvalid(Builder().shutdown_timeout(-1ms).build(), "shutdown_timeout");
  ExpectInvalid(Builder().thread_name("").build(), "thread_name");
  ExpectInvalid(Builder().thread_name("a/b").build(), "thread_name");
  ExpectInvalid(Builder().slow_poll_threshold(-1ms).build(),
                "slow_poll_threshold=-1000000ns");
  ExpectInvalid(Builder().slow_poll_threshold(25h).build(),
                "slow_poll_threshold");
  ExpectInvalid(Builder().on_slow_poll(nullptr).build(), "on_slow_poll");
}

TEST(BuilderTest, SlowPollThresholdAcceptsZeroToADay) {
  EXPECT_TRUE(
      Builder().worker_threads(1).slow_poll_threshold(0ns).build().ok());
  EXPECT_TRUE(
      Builder().worker_threads(1).slow_poll_threshold(24h).build().ok());
}

TEST(BuilderTest, DefaultsBuild) {
  auto rt = Builder().build();
  ASSERT_TRUE(rt.ok()) << rt.status();
  EXPECT_GE(rt->metrics().workers, 1u);
}

class EnvTest : public ::testing::Test {
 protected:
  void TearDown() override {
    unsetenv("TIDEPOOL_WORKER_THREADS");
    unsetenv("TIDEPOOL_MAX_BLOCKING_THREADS");
    unsetenv("TIDEPOOL_BLOCKING_PARALLELISM");
    unsetenv("TIDEPOOL_THREAD_KEEP_ALIVE_MS");
    unsetenv("TIDEPOOL_SLOW_POLL_THRESHOLD_MS");
  }
};

TEST_F(EnvTest, ReadsTheBlockingParallelism) {
  for (const char* value : {"3", "0"}) {
    setenv("TIDEPOOL_BLOCKING_PARALLELISM", value, 1);
    auto b = Builder::from_env();
    ASSERT_TRUE(b.ok()) << b.status();
    auto rt = b->worker_threads(1).build();
    ASSERT_TRUE(rt.ok()) << rt.status();
    EXPECT_EQ(std::to_string(rt->metrics().blocking.parallelism), value);
  }
  for (const char* bad : {"", "many", "-1", "100001"}) {
    setenv("TIDEPOOL_BLOCKING_PARALLELISM", bad, 1);
    auto b = Builder::from_env();
    ASSERT_FALSE(b.ok()) << "accepted '" << bad << "'";
    EXPECT_THAT(std::string(b.status().message()),
                HasSubstr("TIDEPOOL_BLOCKING_PARALLELISM='"));
    EXPECT_THAT(std::string(b.status().message()),
                HasSubstr("expected an integer from 0 to 100000"));
  }
}

TEST_F(EnvTest, ReadsKnobs) {
  setenv("TIDEPOOL_WORKER_THREADS", "3", 1);
  setenv("TIDEPOOL_MAX_BLOCKING_THREADS", "2", 1);
  setenv("TIDEPOOL_THREAD_KEEP_ALIVE_MS", "50", 1);
  auto b = Builder::from_env();
  ASSERT_TRUE(b.ok()) << b.status();
  auto rt = b->build();
  ASSERT_TRUE(rt.ok()) << rt.status();
  EXPECT_EQ(rt->metrics().workers, 3u);
  // The cap of 2 shows in the pool: 4 concurrent calls start 2 threads.
  auto root = []() -> Task<void> {
    std::vector<JoinHandle<void>> hs;
    for (int i = 0; i < 4; ++i) {
      hs.push_back(spawn_blocking([] { std::this_thread::sleep_for(5ms); }));
    }
    for (auto& h : hs) co_await h;
  };
  rt->block_on(root());
  EXPECT_EQ(rt->metrics().blocking.threads_spawned, 2u);
}

TEST_F(EnvTest, ReadsTheSlowPollThreshold) {
  setenv("TIDEPOOL_SLOW_POLL_THRESHOLD_MS", "10", 1);
  auto b = Builder::from_env();
  ASSERT_TRUE(b.ok()) << b.status();
  std::chrono::nanoseconds seen{0};
  auto rt = b->worker_threads(1)
                .on_slow_poll([&](const SlowPoll& p) { seen = p.threshold; })
                .build();
  ASSERT_TRUE(rt.ok()) << rt.status();
  rt->block_on([]() -> Task<void> {
    std::this_thread::sleep_for(40ms);
    co_return;
  }());
  EXPECT_EQ(seen, 10ms);
  // Zero turns timing off.
  setenv("TIDEPOOL_SLOW_POLL_THRESHOLD_MS", "0", 1);
  b = Builder::from_env();
  ASSERT_TRUE(b.ok()) << b.status();
  rt = b->worker_threads(1).build();
  ASSERT_TRUE(rt.ok()) << rt.status();
  rt->block_on([]() -> Task<void> {
    std::this_thread::sleep_for(40ms);
    co_return;
  }());
  EXPECT_EQ(rt->metrics().per_worker[0].slow_polls, 0u);
}

TEST_F(EnvTest, RejectsMalformedValuesNamingTheVariable) {
  for (const char* bad :
       {"", "abc", "-1", "0", "12x", "99999999999999999999"}) {
    setenv("TIDEPOOL_WORKER_THREADS", bad, 1);
    auto b = Builder::from_env();
    ASSERT_FALSE(b.ok()) << "accepted '" << bad << "'";
    EXPECT_THAT(std::string(b.status().message()),
                HasSubstr("TIDEPOOL_WORKER_THREADS"));
  }
  unsetenv("TIDEPOOL_WORKER_THREADS");
  setenv("TIDEPOOL_THREAD_KEEP_ALIVE_MS", "soon", 1);
  auto b = Builder::from_env();
  ASSERT_FALSE(b.ok());
  EXPECT_THAT(std::string(b.status().message()),
              HasSubstr("TIDEPOOL_THREAD_KEEP_ALIVE_MS"));
  unsetenv("TIDEPOOL_THREAD_KEEP_ALIVE_MS");
  setenv("TIDEPOOL_MAX_BLOCKING_THREADS", "0", 1);
  b = Builder::from_env();
  ASSERT_FALSE(b.ok());
  EXPECT_THAT(std::string(b.status().message()),
              HasSubstr("TIDEPOOL_MAX_BLOCKING_THREADS"));
  unsetenv("TIDEPOOL_MAX_BLOCKING_THREADS");
  for (const char* bad : {"", "soon", "-1", "86400001"}) {
    setenv("TIDEPOOL_SLOW_POLL_THRESHOLD_MS", bad, 1);
    b = Builder::from_env();
    ASSERT_FALSE(b.ok()) << "accepted '" << bad << "'";
    EXPECT_THAT(std::string(b.status().message()),
                HasSubstr("TIDEPOOL_SLOW_POLL_THRESHOLD_MS='" +
                          std::string(bad) + "' is not valid"));
  }
}

}  // namespace
}  // namespace tidepool
