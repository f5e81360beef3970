// LocalQueue: FIFO order, capacity, and concurrent steals losing or
// duplicating nothing.
#include "runtime/internal/local_queue.h"

#include <atomic>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace tidepool::internal {
namespace {

// Queue entries are only compared by address here; the header is never used
// as a task.
class FakeTask final : public TaskHeader {
 public:
  FakeTask() : TaskHeader(nullptr, 1) {}
  bool Poll() override { return true; }
  ~FakeTask() override = default;

 protected:
  void DestroyFrame() override {}
  void StoreCancelled() override {}
};

TEST(LocalQueueTest, FifoAndCapacity) {
  LocalQueue q;
  std::vector<FakeTask> tasks(LocalQueue::kCapacity + 1);
  for (size_t i = 0; i < LocalQueue::kCapacity; ++i) {
    ASSERT_TRUE(q.TryPush(&tasks[i]));
  }
  EXPECT_FALSE(q.TryPush(&tasks[LocalQueue::kCapacity]));
  EXPECT_EQ(q.Size(), LocalQueue::kCapacity);
  for (size_t i = 0; i < LocalQueue::kCapacity; ++i) {
    ASSERT_EQ(q.Pop(), &tasks[i]);
  }
  EXPECT_EQ(q.Pop(), nullptr);
}

TEST(LocalQueueTest, StealTakesHalfFromTheFront) {
  LocalQueue q, dest;
  std::vector<FakeTask> tasks(10);
  for (auto& t : tasks) ASSERT_TRUE(q.TryPush(&t));
  EXPECT_EQ(q.StealInto(dest), &tasks[0]);
  EXPECT_EQ(dest.Size(), 4u);
  EXPECT_EQ(q.Size(), 5u);
  EXPECT_EQ(dest.Pop(), &tasks[1]);
  EXPECT_EQ(q.Pop(), &tasks[5]);
}

TEST(LocalQueueTest, ConcurrentStealsSeeEveryTaskOnce) {
  constexpr int kTasks = 200000;
  std::vector<FakeTask> tasks(kTasks);
  std::vector<std::atomic<int>> seen(kTasks);
  LocalQueue owner;
  std::atomic<bool> done{false};
  auto index = [&](TaskHeader* t) {
    return static_cast<FakeTask*>(t) - tasks.data();
  };
  std::vector<std::thread> thieves;
  for (int i = 0; i < 2; ++i) {
    thieves.emplace_back([&] {
      LocalQueue mine;
      while (!done.load() || owner.Size() > 0) {
        if (TaskHeader* t = owner.StealInto(mine)) {
          seen[index(t)].fetch_add(1);
          while (TaskHeader* u = mine.Pop()) seen[index(u)].fetch_add(1);
        }
      }
    });
  }
  int pushed = 0;
  while (pushed < kTasks) {
    if (owner.TryPush(&tasks[pushed])) {
      ++pushed;
    } else if (TaskHeader* t = owner.Pop()) {
      seen[index(t)].fetch_add(1);
    }
  }
  done = true;
  while (TaskHeader* t = owner.Pop()) seen[index(t)].fetch_add(1);
  for (auto& t : thieves) t.join();
  for (int i = 0; i < kTasks; ++i) ASSERT_EQ(seen[i].load(), 1) << "task " << i;
}

}  // namespace
}  // namespace tidepool::internal
