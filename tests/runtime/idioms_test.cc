// The idioms a tokio user writes first, in C++: capturing lambdas, functors
// and temporaries inside co_await expressions. A compiler that destroys such
// a temporary twice (GCC 12, runtime/compiler_check.h) fails these through
// Tracked's live count, and through a double free of its heap payload that
// ASan (or glibc) reports.
#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/runtime.h"

namespace tidepool {
namespace {

using namespace std::chrono_literals;

// Counts its live instances. The payload is longer than the small-string
// buffer, so destroying one object twice frees its heap block twice.
class Tracked {
 public:
  explicit Tracked(int value) : value_(value), payload_(100, 'p') {
    live_.fetch_add(1, std::memory_order_relaxed);
  }
  Tracked(const Tracked& other)
      : value_(other.value_), payload_(other.payload_) {
    live_.fetch_add(1, std::memory_order_relaxed);
  }
  Tracked(Tracked&& other) noexcept
      : value_(other.value_), payload_(std::move(other.payload_)) {
    live_.fetch_add(1, std::memory_order_relaxed);
  }
  Tracked& operator=(const Tracked&) = default;
  Tracked& operator=(Tracked&&) noexcept = default;
  ~Tracked() { live_.fetch_sub(1, std::memory_order_relaxed); }

  int value() const { return value_; }
  size_t payload_size() const { return payload_.size(); }
  // relaxed: read after the runtime's threads handed their work back
  // through a JoinHandle, which orders every count before it.
  static int live() { return live_.load(std::memory_order_relaxed); }

 private:
  static inline std::atomic<int> live_{0};
  int value_;
  std::string payload_;
};

class IdiomsTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(Tracked::live(), 0); }
  // Every Tracked made by a test is gone once its runtime has finished the
  // test's tasks: neither leaked nor destroyed twice.
  void TearDown() override { EXPECT_EQ(Tracked::live(), 0); }

  static Runtime MakeRuntime() {
    absl::StatusOr<Runtime> rt = Builder().worker_threads(2).build();
    EXPECT_TRUE(rt.ok()) << rt.status();
    return *std::move(rt);
  }
};

// The program: the tokio habit `spawn_blocking(move || ...)`.
Task<long> MoveCaptureLoop(long n) {
  long sum = 0;
  for (long i = 0; i < n; i++) {
    std::vector<unsigned char> req(1024, 'a');
    std::string resp = co_await spawn_blocking(
        [req = std::move(req)] { return std::string(req.size(), 'x'); });
    sum += static_cast<long>(resp.size());
  }
  co_return sum;
}

TEST_F(IdiomsTest, SpawnBlockingWithAMoveCapturingLambda) {
  Runtime rt = MakeRuntime();
  EXPECT_EQ(rt.block_on(MoveCaptureLoop(1)), 1024);
  EXPECT_EQ(rt.block_on(MoveCaptureLoop(200)), 200 * 1024);
}

TEST_F(IdiomsTest, SpawnBlockingWithACountedCapture) {
  Runtime rt = MakeRuntime();
  auto body = []() -> Task<int> {
    int sum = 0;
    for (int i = 0; i < 50; ++i) {
      Tracked t(i);
      sum += co_await spawn_blocking([t = std::move(t)] {
        return t.value() + static_cast<int>(t.payload_size());
      });
    }
    co_return sum;
  };
  EXPECT_EQ(rt.block_on(body()), 49 * 50 / 2 + 50 * 100);
}

struct Doubler {
  Tracked arg;
  int operator()() const { return arg.value() * 2; }
};

TEST_F(IdiomsTest, SpawnBlockingWithAFunctorTemporary) {
  Runtime rt = MakeRuntime();
  auto body = []() -> Task<int> {
    int sum = 0;
    for (int i = 0; i < 50; ++i)
      sum += co_await spawn_blocking(Doubler{Tracked(i)});
    co_return sum;
  };
  EXPECT_EQ(rt.block_on(body()), 49 * 50);
}

TEST_F(IdiomsTest, SpawnBlockingThatThrowsFromACapturingLambda) {
  Runtime rt = MakeRuntime();
  auto body = []() -> Task<std::string> {
    try {
      co_await spawn_blocking([t = Tracked(1)]() -> int {
        throw std::runtime_error("failed with " + std::to_string(t.value()));
      });
    } catch (const std::runtime_error& e) {
      co_return e.what();
    }
    co_return "no exception";
  };
  EXPECT_EQ(rt.block_on(body()), "failed with 1");
}

// A coroutine taking its arguments by value, as an `async move` block holds
// what it captured.
Task<size_t> Measure(Tracked t, std::string s) {
  co_await yield_now();
  co_return static_cast<size_t>(t.value()) + s.size();
}

TEST_F(IdiomsTest, AwaitedCallWithTemporaryArguments) {
  Runtime rt = MakeRuntime();
  auto body = []() -> Task<size_t> {
    size_t sum = 0;
    for (int i = 0; i < 50; ++i) {
      sum += co_await Measure(Tracked(i), std::string(200, 'y'));
    }
    co_return sum;
  };
  EXPECT_EQ(rt.block_on(body()), 49u * 50 / 2 + 50u * 200);
}

// Temporaries bound to reference parameters live until the end of the full
// expression, which includes the co_await.
Task<size_t> MeasureByReference(const Tracked& t, const std::string& s) {
  co_await yield_now();
  co_return static_cast<size_t>(t.value()) + s.size();
}

TEST_F(IdiomsTest, AwaitedCallWithTemporariesBoundToReferences) {
  Runtime rt = MakeRuntime();
  auto body = []() -> Task<size_t> {
    size_t sum = 0;
    for (int i = 0; i < 50; ++i) {
      sum += co_await MeasureByReference(Tracked(i), std::string(200, 'r'));
    }
    co_return sum;
  };
  EXPECT_EQ(rt.block_on(body()), 49u * 50 / 2 + 50u * 200);
}

TEST_F(IdiomsTest, AwaitedSpawnWithTemporaryArguments) {
  Runtime rt = MakeRuntime();
  auto body = []() -> Task<size_t> {
    size_t sum = 0;
    for (int i = 0; i < 50; ++i) {
      sum += co_await spawn(Measure(Tracked(i), std::string(200, 'y')));
    }
    co_return sum;
  };
  EXPECT_EQ(rt.block_on(body()), 49u * 50 / 2 + 50u * 200);
}

TEST_F(IdiomsTest, BoundedSendOfTemporaries) {
  Runtime rt = MakeRuntime();
  auto body = []() -> Task<size_t> {
    auto [tx, rx] = mpsc::channel<std::pair<Tracked, std::string>>(4);
    auto produce =
        [](mpsc::Sender<std::pair<Tracked, std::string>> tx) -> Task<void> {
      for (int i = 0; i < 100; ++i) {
        bool sent = co_await tx.send({Tracked(i), std::string(300, 's')});
        if (!sent) throw std::logic_error("receiver gone");
      }
    };
    JoinHandle<void> producer = spawn(produce(std::move(tx)));
    size_t sum = 0;
    while (auto v = co_await rx.recv()) {
      sum += static_cast<size_t>(v->first.value()) + v->second.size();
    }
    co_await producer;
    co_return sum;
  };
  EXPECT_EQ(rt.block_on(body()), 99u * 100 / 2 + 100u * 300);
}

TEST_F(IdiomsTest, WriteAllOfATemporaryString) {
  Runtime rt = MakeRuntime();
  auto body = []() -> Task<std::string> {
    absl::StatusOr<TcpListener> listener =
        TcpListener::bind(*SocketAddress::Parse("127.0.0.1:0"));
    if (!listener.ok()) co_return listener.status().ToString();
    absl::StatusOr<TcpStream> client =
        co_await TcpStream::connect(*listener->local_address());
    if (!client.ok()) co_return client.status().ToString();
    absl::StatusOr<TcpStream> server = co_await listener->accept();
    if (!server.ok()) co_return server.status().ToString();
    for (int i = 0; i < 20; ++i) {
      absl::Status st = co_await client->write_all(std::string(5000, 'w'));
      if (!st.ok()) co_return st.ToString();
    }
    (void)client->shutdown();
    std::string got;
    char buf[4096];
    while (true) {
      absl::StatusOr<size_t> n = co_await server->read(buf);
      if (!n.ok()) co_return n.status().ToString();
      if (*n == 0) break;
      got.append(buf, *n);
    }
    co_return got;
  };
  EXPECT_EQ(rt.block_on(body()), std::string(20 * 5000, 'w'));
}

TEST_F(IdiomsTest, TimeoutAroundASpawnBlockingLambda) {
  Runtime rt = MakeRuntime();
  auto body = []() -> Task<int> {
    int sum = 0;
    for (int i = 0; i < 20; ++i) {
      absl::StatusOr<int> r = co_await timeout(
          10s, spawn_blocking([t = Tracked(i)] { return t.value(); }));
      if (!r.ok()) throw std::runtime_error(r.status().ToString());
      sum += *r;
    }
    co_return sum;
  };
  EXPECT_EQ(rt.block_on(body()), 19 * 20 / 2);
}

Task<int> Forever(Tracked t) {
  co_await sleep(1h);
  co_return t.value();
}

TEST_F(IdiomsTest, SelectOverBranchesWithTemporaryArguments) {
  Runtime rt = MakeRuntime();
  auto body = []() -> Task<size_t> {
    size_t sum = 0;
    for (int i = 0; i < 20; ++i) {
      std::variant<size_t, int> r = co_await select(
          Measure(Tracked(i), std::string(50, 'z')), Forever(Tracked(-1)));
      sum += std::get<0>(r);
    }
    co_return sum;
  };
  EXPECT_EQ(rt.block_on(body()), 19u * 20 / 2 + 20u * 50);
}

TEST_F(IdiomsTest, JoinSetOfTasksWithTemporaryArguments) {
  Runtime rt = MakeRuntime();
  auto body = []() -> Task<size_t> {
    JoinSet<size_t> set;
    for (int i = 0; i < 20; ++i)
      set.spawn(Measure(Tracked(i), std::string(10, 'j')));
    size_t sum = 0;
    while (std::optional<size_t> v = co_await set.join_next()) sum += *v;
    co_return sum;
  };
  EXPECT_EQ(rt.block_on(body()), 19u * 20 / 2 + 20u * 10);
}

}  // namespace
}  // namespace tidepool
