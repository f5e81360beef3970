// Many connections at once with timeouts and aborts landing mid-operation,
// per I/O driver; meant for ThreadSanitizer and AddressSanitizer as much as
// for the default build. TIDEPOOL_STRESS_SCALE multiplies the rounds.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/runtime.h"
#include "tests/runtime/net/net_test_util.h"
#include "tests/util/test_util.h"

namespace tidepool {
namespace {

using ::tidepool::testing::StressScale;

using ::tidepool::testing::OpenFds;

using namespace std::chrono_literals;

Task<void> Echo(TcpStream s) {
  std::vector<char> buf(16384);
  while (true) {
    auto n = co_await s.read(buf);
    if (!n.ok() || *n == 0) co_return;
    if (!(co_await s.write_all(std::string_view(buf.data(), *n))).ok()) {
      co_return;
    }
  }
}

Task<void> Accept(TcpListener* listener) {
  while (true) {
    auto c = co_await listener->accept();
    if (!c.ok()) co_return;
    spawn(Echo(*std::move(c))).detach();
  }
}

struct Tally {
  std::atomic<int> verified{0};
  std::atomic<int> timed_out{0};
  std::atomic<int> corrupted{0};
};

// One client: a few exchanges of varied sizes, each read under a short
// timeout that sometimes expires; a timed-out connection is dropped (its
// framing is unknown) and a new one opened.
Task<void> Client(SocketAddress addr, uint32_t seed, int exchanges,
                  std::shared_ptr<Tally> tally) {
  uint32_t x = seed * 2654435761u + 1;
  auto next = [&x] {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return x;
  };
  std::optional<TcpStream> c;
  for (int i = 0; i < exchanges; ++i) {
    if (!c) {
      auto s = co_await TcpStream::connect(addr);
      if (!s.ok()) continue;
      c.emplace(*std::move(s));
    }
    std::string msg(1 + next() % 65536, '\0');
    for (char& ch : msg) ch = static_cast<char>(next());
    if (!(co_await c->write_all(msg)).ok()) {
      c.reset();
      continue;
    }
    std::string got;
    std::vector<char> buf(8192);
    const auto limit = std::chrono::milliseconds(1 + next() % 20);
    bool dropped = false;
    while (got.size() < msg.size()) {
      auto n = co_await timeout(limit, c->read(buf));
      if (!n.ok()) {
        tally->timed_out.fetch_add(1);
        dropped = true;
        break;
      }
      if (!n->ok() || **n == 0) {
        dropped = true;
        break;
      }
      got.append(buf.data(), **n);
    }
    if (dropped) {
      c.reset();
      continue;
    }
    (got == msg ? tally->verified : tally->corrupted).fetch_add(1);
  }
}

class TcpStressTest : public ::tidepool::testing::DriverTest {};

TEST_P(TcpStressTest, TimeoutsAndAbortsMidOperation) {
  const size_t fds_before = OpenFds();
  auto tally = std::make_shared<Tally>();
  {
    Runtime rt = MakeRuntime(/*workers=*/2);
    auto root = [&]() -> Task<bool> {
      auto listener = TcpListener::bind(*SocketAddress::Parse("127.0.0.1:0"));
      if (!listener.ok()) co_return false;
      const SocketAddress addr = *listener->local_address();
      JoinHandle<void> acceptor = spawn(Accept(&*listener));
      for (int round = 0; round < 4 * StressScale(); ++round) {
        std::vector<JoinHandle<void>> clients;
        for (uint32_t i = 0; i < 32; ++i) {
          clients.push_back(spawn(Client(addr, round * 100 + i, 8, tally)));
        }
        // Abort every fourth client wherever it is.
        co_await sleep(std::chrono::milliseconds(1 + round % 5));
        for (size_t i = 0; i < clients.size(); i += 4) clients[i].abort();
        for (auto& h : clients) {
          try {
            co_await h;
          } catch (const TaskCancelled&) {
          }
        }
      }
      acceptor.abort();
      co_return true;
    };
    EXPECT_TRUE(rt.block_on(root()));
  }  // echo tasks still reading are destroyed with the runtime
  EXPECT_EQ(tally->corrupted.load(), 0);
  EXPECT_GT(tally->verified.load(), 0);
  EXPECT_EQ(OpenFds(), fds_before);
}

// Operations ended from everywhere at once: reads on silent connections
// end by deadlines (whose timers fire on either worker), by aborts sent
// from a thread outside the runtime, and by another task shutting the
// socket down under them; with a ring per worker many of these cancellations
// land on a ring other than the canceller's. Every operation must end, every
// descriptor close, nothing stay in flight.
TEST_P(TcpStressTest, CancellationsFromAnyThreadEndEveryOperation) {
  const size_t fds_before = OpenFds();
  std::atomic<int> ended{0};
  {
    Runtime rt = MakeRuntime(/*workers=*/2);
    auto listener = rt.block_on([]() -> Task<absl::StatusOr<TcpListener>> {
      co_return TcpListener::bind(*SocketAddress::Parse("127.0.0.1:0"));
    }());
    ASSERT_TRUE(listener.ok()) << listener.status();
    const SocketAddress addr = *listener->local_address();
    // Holds the accepted ends open and silent until the round ends.
    auto hold = [](TcpListener* l, int n) -> Task<std::vector<TcpStream>> {
      std::vector<TcpStream> held;
      for (int i = 0; i < n; ++i) {
        absl::StatusOr<TcpStream> s = co_await l->accept();
        if (s.ok()) held.push_back(*std::move(s));
      }
      co_return held;
    };
    // Reads until the read fails; each read has a short deadline, so the
    // loop keeps starting and cancelling operations.
    auto reader = [](std::shared_ptr<TcpStream> s,
                     std::atomic<int>& ended) -> Task<void> {
      char buf[64];
      while (true) {
        auto r = co_await timeout(std::chrono::microseconds(300),
                                  s->read(std::span<char>(buf)));
        // The end of the stream, shut down under it, or an error.
        if (r.ok() && (!r->ok() || **r == 0)) break;
      }
      ended.fetch_add(1);
    };
    auto closer = [](std::shared_ptr<TcpStream> s) -> Task<void> {
      co_await sleep(2ms);
      // shutdown, not close: a stream is closed only by the task that
      // uses it (its fields are not shared), but shutting it down from
      // another task is what a server's drain does.
      (void)s->shutdown(TcpStream::Shutdown::kBoth);
    };
    constexpr int kConns = 24;
    for (int round = 0; round < 6 * StressScale(); ++round) {
      JoinHandle<std::vector<TcpStream>> held =
          rt.spawn(hold(&*listener, kConns));
      std::vector<JoinHandle<void>> readers;
      std::vector<std::shared_ptr<TcpStream>> clients;
      for (int i = 0; i < kConns; ++i) {
        auto c = rt.block_on(TcpStream::connect(addr));
        ASSERT_TRUE(c.ok()) << c.status();
        clients.push_back(std::make_shared<TcpStream>(*std::move(c)));
        readers.push_back(rt.spawn(reader(clients.back(), ended)));
      }
      std::this_thread::sleep_for(1ms);
      for (int i = 0; i < kConns; ++i) {
        if (i % 2 == 0) {
          readers[i].abort();  // from this thread, outside the runtime
        } else {
          rt.spawn(closer(clients[i])).detach();
        }
      }
      for (auto& h : readers) {
        try {
          rt.block_on([](JoinHandle<void>& h) -> Task<void> { co_await h; }(h));
        } catch (const TaskCancelled&) {
          ended.fetch_add(1);
        }
      }
      clients.clear();
      auto server_ends = rt.block_on([](JoinHandle<std::vector<TcpStream>> h)
                                         -> Task<std::vector<TcpStream>> {
        co_return co_await h;
      }(std::move(held)));
      EXPECT_EQ(server_ends.size(), static_cast<size_t>(kConns));
    }
    EXPECT_EQ(ended.load(), 6 * StressScale() * kConns);
    EXPECT_EQ(rt.metrics().io_in_flight, 0u);
  }
  EXPECT_EQ(OpenFds(), fds_before);
}

TIDEPOOL_INSTANTIATE_FOR_DRIVERS(TcpStressTest);

}  // namespace
}  // namespace tidepool
