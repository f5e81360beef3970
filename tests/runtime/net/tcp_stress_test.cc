// Many connections at once with timeouts and aborts landing mid-operation,
// per I/O driver; meant for ThreadSanitizer and AddressSanitizer as much as
// for the default build. TIDEPOOL_STRESS_SCALE multiplies the rounds.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/runtime.h"
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

class TcpStressTest : public ::testing::TestWithParam<std::string> {};

TEST_P(TcpStressTest, TimeoutsAndAbortsMidOperation) {
  const size_t fds_before = OpenFds();
  auto tally = std::make_shared<Tally>();
  {
    auto built = Builder()
                     .worker_threads(2)
                     .io_driver(*ParseIoDriverKind(GetParam()))
                     .build();
    ASSERT_TRUE(built.ok()) << built.status();
    Runtime rt = *std::move(built);
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

INSTANTIATE_TEST_SUITE_P(Drivers, TcpStressTest,
                         ::testing::Values("uring", "epoll"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace tidepool
