// The inject queue on its own: FIFO across single pushes and batches,
// refusal after closing (also racing pushes), and many producers against
// many consumers.
#include "runtime/internal/inject_queue.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <unordered_map>
#include <vector>

#include "gtest/gtest.h"
#include "tests/util/fake_task.h"
#include "tests/util/test_util.h"

namespace tidepool::internal {
namespace {

using testing::FakeTask;

struct Tasks {
  explicit Tasks(size_t n) : destroyed(n) {
    for (size_t i = 0; i < n; ++i) {
      all.push_back(new FakeTask(&destroyed[i]));
    }
  }
  std::vector<std::atomic<bool>> destroyed;
  std::vector<TaskHeader*> all;
};

TEST(InjectQueueTest, FifoAcrossPushesAndBatches) {
  InjectQueue q;
  Tasks t(6);
  q.Push(t.all[0]);
  // A batch of three, linked first to last.
  t.all[1]->set_queue_next(t.all[2]);
  t.all[2]->set_queue_next(t.all[3]);
  q.PushBatch(t.all[1], t.all[3], 3);
  q.Push(t.all[4]);
  EXPECT_EQ(q.Size(), 5u);
  std::array<TaskHeader*, 2> out;
  ASSERT_EQ(q.PopBatch(out.data(), 2), 2u);
  EXPECT_EQ(out[0], t.all[0]);
  EXPECT_EQ(out[1], t.all[1]);
  // Pushed after the consumer took the stack: still behind the rest.
  q.Push(t.all[5]);
  for (size_t i = 2; i < 6; ++i) EXPECT_EQ(q.Pop(), t.all[i]) << i;
  EXPECT_EQ(q.Pop(), nullptr);
  EXPECT_EQ(q.Size(), 0u);
  for (TaskHeader* task : t.all) task->Unref();
}

TEST(InjectQueueTest, ClosingDropsQueuedAndLaterTasks) {
  InjectQueue q;
  Tasks t(6);
  q.Push(t.all[0]);
  q.Push(t.all[1]);
  ASSERT_EQ(q.Pop(), t.all[0]);  // the rest moved to the consumers' list
  q.Push(t.all[2]);
  q.CloseAndDrain();
  EXPECT_TRUE(t.destroyed[1].load());
  EXPECT_TRUE(t.destroyed[2].load());
  q.Push(t.all[3]);
  EXPECT_TRUE(t.destroyed[3].load());
  // A batch, which would go straight onto the consumers' list.
  t.all[4]->set_queue_next(t.all[5]);
  q.PushBatch(t.all[4], t.all[5], 2);
  EXPECT_TRUE(t.destroyed[4].load());
  EXPECT_TRUE(t.destroyed[5].load());
  EXPECT_EQ(q.Size(), 0u);
  EXPECT_EQ(q.Pop(), nullptr);
  t.all[0]->Unref();
}

// Closing while workers push overflow batches (straight onto the list when
// the lock is free) and a consumer pops: every task is either run or
// dropped by the queue, none is left behind.
TEST(InjectQueueTest, CloseRacingBatchesLosesNothing) {
  constexpr int kPerProducer = 3000;
  const int rounds = 50 * testing::StressScale();
  for (int round = 0; round < rounds; ++round) {
    InjectQueue q;
    Tasks t(2 * kPerProducer);
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    for (int p = 0; p < 2; ++p) {
      threads.emplace_back([&, p] {
        TaskHeader** mine = t.all.data() + p * kPerProducer;
        for (int i = 0; i < kPerProducer;) {
          const int n = std::min(i % 5 == 0 ? 1 : 3, kPerProducer - i);
          for (int k = 0; k + 1 < n; ++k) {
            mine[i + k]->set_queue_next(mine[i + k + 1]);
          }
          q.PushBatch(mine[i], mine[i + n - 1], n);
          i += n;
        }
      });
    }
    threads.emplace_back([&] {
      std::array<TaskHeader*, 4> out;
      while (!stop.load()) {
        const size_t n = q.PopBatch(out.data(), out.size());
        for (size_t k = 0; k < n; ++k) out[k]->Unref();
      }
    });
    std::this_thread::sleep_for(std::chrono::microseconds(round * 7 % 300));
    q.CloseAndDrain();
    threads[0].join();
    threads[1].join();
    stop.store(true);
    threads[2].join();
    EXPECT_EQ(q.Size(), 0u);
    EXPECT_EQ(q.Pop(), nullptr);
    for (size_t i = 0; i < t.destroyed.size(); ++i) {
      ASSERT_TRUE(t.destroyed[i].load()) << "round " << round << " task " << i;
    }
  }
}

// Producers push single tasks and batches while consumers pop batches:
// every task comes out exactly once, and each producer's tasks come out in
// the order it pushed them as seen by any one consumer.
TEST(InjectQueueTest, ProducersAndConsumersLoseNothing) {
  constexpr int kProducers = 4;
  const int per_producer = 20000 * testing::StressScale();
  InjectQueue q;
  std::vector<std::unique_ptr<Tasks>> tasks;
  for (int p = 0; p < kProducers; ++p) {
    tasks.push_back(std::make_unique<Tasks>(per_producer));
  }
  // Which producer and index each task is.
  struct Id {
    int producer;
    int index;
  };
  std::unordered_map<TaskHeader*, Id> index;
  for (int p = 0; p < kProducers; ++p) {
    for (int i = 0; i < per_producer; ++i) index[tasks[p]->all[i]] = {p, i};
  }
  std::vector<std::atomic<int>> seen(kProducers * per_producer);
  std::atomic<int> popped{0};
  std::atomic<bool> order_ok{true};
  std::vector<std::thread> threads;
  for (int p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p] {
      const auto& all = tasks[p]->all;
      for (int i = 0; i < per_producer;) {
        // Every fourth push is a batch of up to three.
        if (i % 4 == 0 && i + 3 <= per_producer) {
          all[i]->set_queue_next(all[i + 1]);
          all[i + 1]->set_queue_next(all[i + 2]);
          q.PushBatch(all[i], all[i + 2], 3);
          i += 3;
        } else {
          q.Push(all[i]);
          ++i;
        }
      }
    });
  }
  for (int c = 0; c < 2; ++c) {
    threads.emplace_back([&] {
      std::vector<int> last(kProducers, -1);
      std::array<TaskHeader*, 8> out;
      while (popped.load() < kProducers * per_producer) {
        const size_t n = q.PopBatch(out.data(), out.size());
        for (size_t k = 0; k < n; ++k) {
          const Id id = index.at(out[k]);
          if (id.index <= last[id.producer]) order_ok.store(false);
          last[id.producer] = id.index;
          seen[id.producer * per_producer + id.index].fetch_add(1);
        }
        popped.fetch_add(static_cast<int>(n));
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_TRUE(order_ok.load());
  for (int i = 0; i < kProducers * per_producer; ++i) {
    ASSERT_EQ(seen[i].load(), 1) << i;
  }
  EXPECT_EQ(q.Size(), 0u);
  for (auto& t : tasks) {
    for (TaskHeader* task : t->all) task->Unref();
  }
}

}  // namespace
}  // namespace tidepool::internal
