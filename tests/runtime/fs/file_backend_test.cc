// fs::File and fs/fs.h on each backend: io_uring (a ring per worker in a
// multi-thread runtime, the shared ring of a current_thread one) and the
// blocking pool (epoll runtimes). Every operation, large transfers, errors,
// aborts in the middle of a read, the one-op-per-side rule, and which
// threads served the reads and writes.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/runtime.h"
#include "tests/util/test_util.h"

namespace tidepool::fs {
namespace {

using namespace std::chrono_literals;
using ::tidepool::testing::OpenFds;
using ::tidepool::testing::StressScale;

// ASSERT_TRUE for coroutines: fails the test and leaves the coroutine.
#define CO_ASSERT_TRUE(cond)               \
  do {                                     \
    if (!(cond)) {                         \
      ADD_FAILURE() << "false: " << #cond; \
      co_return;                           \
    }                                      \
  } while (0)

struct Config {
  std::string name;
  bool current_thread;
  IoDriverKind driver;
};

void PrintTo(const Config& c, std::ostream* os) { *os << c.name; }

class FileBackendTest : public ::testing::TestWithParam<Config> {
 protected:
  Runtime MakeRuntime(std::chrono::nanoseconds keep_alive = 10s) {
    Builder b = GetParam().current_thread ? Builder::current_thread()
                                          : Builder().worker_threads(2);
    b.io_driver(GetParam().driver).thread_keep_alive(keep_alive);
    absl::StatusOr<Runtime> rt = b.build();
    EXPECT_TRUE(rt.ok()) << rt.status();
    return *std::move(rt);
  }
  // Whether reads and writes go to io_uring (the machine's kernel has the
  // opcodes; the backend test checks that the runtime says so).
  bool OnRing() const { return GetParam().driver == IoDriverKind::kUring; }

  // A fresh path under the test's temporary directory.
  static std::string Path(const std::string& name) {
    static int counter = 0;
    const char* dir = std::getenv("TEST_TMPDIR");
    return std::string(dir ? dir : "/tmp") + "/file_backend_test-" +
           std::to_string(getpid()) + "-" + std::to_string(counter++) + "-" +
           name;
  }
};

// `n` bytes that differ from one offset to the next (a short repeat would
// hide an offset error).
std::string Pattern(size_t n) {
  std::string s(n, '\0');
  uint32_t x = 12345;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1103515245 + 12345;
    s[i] = static_cast<char>(x >> 24);
  }
  return s;
}

bool Says(const absl::Status& s, int err) {
  return s.message().find(std::strerror(err)) != std::string_view::npos;
}

// Sleeps in 1 ms steps until `done()` or 10 s.
Task<bool> Eventually(std::function<bool()> done) {
  for (int i = 0; i < 10000; ++i) {
    if (done()) co_return true;
    co_await sleep(1ms);
  }
  co_return done();
}

// Aborts the task behind `h` and waits until it is gone.
template <typename T>
Task<void> AbortAndWait(JoinHandle<T>& h) {
  h.abort();
  try {
    (void)co_await h;
  } catch (const TaskCancelled&) {
  }
}

TEST_P(FileBackendTest, MetricsNameTheBackend) {
  Runtime rt = MakeRuntime();
  EXPECT_EQ(rt.metrics().fs_backend, OnRing() ? "io_uring" : "blocking pool");
}

TEST_P(FileBackendTest, EveryOperation) {
  Runtime rt = MakeRuntime();
  rt.block_on([](std::string dir) -> Task<void> {
    CO_ASSERT_TRUE((co_await create_dir(dir)).ok());
    const std::string path = dir + "/f";
    absl::StatusOr<File> f = co_await File::open(
        path, {.read = true, .write = true, .create = true, .truncate = true});
    CO_ASSERT_TRUE(f.ok());
    EXPECT_EQ(*co_await f->write("hello "), 6u);
    EXPECT_TRUE((co_await f->write_all("world")).ok());
    EXPECT_EQ(*co_await f->write_at("W", 6), 1u);
    char buf[16];
    EXPECT_EQ(*co_await f->read_at(std::span(buf, 5), 6), 5u);
    EXPECT_EQ(std::string_view(buf, 5), "World");
    // write() moved the position to the end; *_at() left it there.
    EXPECT_EQ(*co_await f->read(buf), 0u);
    EXPECT_TRUE((co_await f->fsync()).ok());
    absl::StatusOr<Metadata> m = co_await f->metadata();
    CO_ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->size, 11u);
    EXPECT_TRUE(m->is_file());
    f->close();

    // A second File has a position of its own, from 0.
    absl::StatusOr<File> r = co_await File::open(path);
    CO_ASSERT_TRUE(r.ok());
    EXPECT_EQ(*co_await r->read(std::span(buf, 5)), 5u);
    EXPECT_EQ(std::string_view(buf, 5), "hello");
    EXPECT_EQ(*co_await r->read(buf), 6u);
    EXPECT_EQ(std::string_view(buf, 6), " World");
    EXPECT_EQ(*co_await r->read(buf), 0u);

    // Appending writes go to the end, whatever was read before.
    absl::StatusOr<File> a =
        co_await File::open(path, {.read = true, .append = true});
    CO_ASSERT_TRUE(a.ok());
    EXPECT_EQ(*co_await a->read(std::span(buf, 2)), 2u);
    EXPECT_TRUE((co_await a->write_all("!")).ok());
    EXPECT_EQ(*co_await read_to_string(path), "hello World!");

    EXPECT_TRUE((co_await write(path, "replaced")).ok());
    EXPECT_EQ(*co_await read_to_string(path), "replaced");
    const std::string moved = dir + "/g";
    EXPECT_TRUE((co_await rename(path, moved)).ok());
    absl::StatusOr<Metadata> st = co_await stat(moved);
    CO_ASSERT_TRUE(st.ok());
    EXPECT_EQ(st->size, 8u);
    EXPECT_TRUE((co_await remove(moved)).ok());
    EXPECT_TRUE((co_await remove(dir)).ok());
    EXPECT_TRUE(absl::IsNotFound((co_await stat(dir)).status()));
  }(Path("every")));
}

TEST_P(FileBackendTest, LargeTransfersLoopOverPartialOnes) {
  Runtime rt = MakeRuntime();
  rt.block_on([](std::string path) -> Task<void> {
    const std::string data = Pattern((8 << 20) + 123);
    {
      absl::StatusOr<File> f = co_await File::create(path);
      CO_ASSERT_TRUE(f.ok());
      // Odd chunk sizes, so no transfer lines up with a page.
      constexpr size_t kChunk = (3 << 20) + 1;
      for (size_t at = 0; at < data.size(); at += kChunk) {
        absl::Status s =
            co_await f->write_all(std::string_view(data).substr(at, kChunk));
        CO_ASSERT_TRUE(s.ok());
      }
    }
    absl::StatusOr<File> f = co_await File::open(path);
    CO_ASSERT_TRUE(f.ok());
    std::string back;
    std::vector<char> buf((1 << 20) + 7);
    while (true) {
      absl::StatusOr<size_t> n = co_await f->read(buf);
      CO_ASSERT_TRUE(n.ok());
      if (*n == 0) break;
      back.append(buf.data(), *n);
    }
    EXPECT_TRUE(back == data)
        << back.size() << " bytes back of " << data.size();
    // Far into the file, and past its end.
    std::vector<char> mid(2 << 20);
    size_t got = 0;
    while (got < mid.size()) {
      absl::StatusOr<size_t> n =
          co_await f->read_at(std::span(mid).subspan(got), (5 << 20) + got);
      CO_ASSERT_TRUE(n.ok() && *n > 0);
      got += *n;
    }
    EXPECT_TRUE(std::string_view(mid.data(), mid.size()) ==
                std::string_view(data).substr(5 << 20, mid.size()));
    EXPECT_EQ(*co_await f->read_at(buf, data.size() + 10), 0u);

    // The whole-file helpers, both ways.
    const std::string other = Pattern(6 << 20).substr(17);
    EXPECT_TRUE((co_await write(path, other)).ok());
    absl::StatusOr<std::string> text = co_await read_to_string(path);
    CO_ASSERT_TRUE(text.ok());
    EXPECT_TRUE(*text == other) << text->size();
    EXPECT_TRUE((co_await remove(path)).ok());
  }(Path("large")));
}

TEST_P(FileBackendTest, Errors) {
  Runtime rt = MakeRuntime();
  rt.block_on([](std::string dir) -> Task<void> {
    const std::string missing = dir + "-missing/x";
    absl::StatusOr<File> none = co_await File::open(missing);
    EXPECT_TRUE(absl::IsNotFound(none.status())) << none.status();
    EXPECT_TRUE(Says(none.status(), ENOENT)) << none.status();
    EXPECT_TRUE(absl::IsNotFound((co_await read_to_string(missing)).status()));
    EXPECT_TRUE(absl::IsNotFound(co_await write(missing, "x")));

    // A directory opens for reading, but reads say EISDIR.
    CO_ASSERT_TRUE((co_await create_dir(dir)).ok());
    absl::StatusOr<File> d = co_await File::open(dir);
    CO_ASSERT_TRUE(d.ok());
    char buf[8];
    absl::StatusOr<size_t> n = co_await d->read(buf);
    EXPECT_TRUE(!n.ok() && Says(n.status(), EISDIR)) << n.status();
    n = co_await d->read_at(buf, 0);
    EXPECT_TRUE(!n.ok() && Says(n.status(), EISDIR)) << n.status();
    absl::StatusOr<std::string> text = co_await read_to_string(dir);
    EXPECT_TRUE(!text.ok() && Says(text.status(), EISDIR)) << text.status();
    absl::StatusOr<File> dw = co_await File::open(dir, {.write = true});
    EXPECT_TRUE(!dw.ok() && Says(dw.status(), EISDIR)) << dw.status();

    // Writing a file opened only for reading: the kernel's EBADF.
    const std::string path = dir + "/f";
    CO_ASSERT_TRUE((co_await write(path, "abc")).ok());
    absl::StatusOr<File> ro = co_await File::open(path);
    CO_ASSERT_TRUE(ro.ok());
    absl::StatusOr<size_t> w = co_await ro->write("x");
    EXPECT_TRUE(!w.ok() && Says(w.status(), EBADF)) << w.status();
    EXPECT_NE(w.status().message().find(path), std::string_view::npos);

    // After close(), every operation: EBADF, naming the path.
    absl::StatusOr<File> f =
        co_await File::open(path, {.read = true, .write = true});
    CO_ASSERT_TRUE(f.ok());
    f->close();
    EXPECT_EQ(f->native_handle(), -1);
    f->close();  // again: nothing
    n = co_await f->read(buf);
    EXPECT_TRUE(!n.ok() && Says(n.status(), EBADF)) << n.status();
    EXPECT_NE(n.status().message().find(path), std::string_view::npos);
    n = co_await f->read_at(buf, 0);
    EXPECT_TRUE(!n.ok() && Says(n.status(), EBADF)) << n.status();
    n = co_await f->write("x");
    EXPECT_TRUE(!n.ok() && Says(n.status(), EBADF)) << n.status();
    n = co_await f->write_at("x", 0);
    EXPECT_TRUE(!n.ok() && Says(n.status(), EBADF)) << n.status();
    absl::Status s = co_await f->write_all("x");
    EXPECT_TRUE(Says(s, EBADF)) << s;
    s = co_await f->fsync();
    EXPECT_TRUE(Says(s, EBADF)) << s;
    absl::StatusOr<Metadata> m = co_await f->metadata();
    EXPECT_TRUE(!m.ok() && Says(m.status(), EBADF)) << m.status();
    // A moved-from File is closed too.
    File moved = *std::move(ro);
    n = co_await ro->read(buf);
    EXPECT_TRUE(!n.ok() && Says(n.status(), EBADF)) << n.status();
    EXPECT_EQ(*co_await moved.read(buf), 3u);

    EXPECT_TRUE((co_await remove(path)).ok());
    EXPECT_TRUE((co_await remove(dir)).ok());
  }(Path("errors")));
}

// A read that waits (a FIFO with no writer's data) is aborted: on io_uring
// it is cancelled before its frame goes and consumes nothing; on the
// blocking pool the call runs on into a buffer of its own. Either way the
// File stays usable and nothing leaks.
TEST_P(FileBackendTest, AbortMidRead) {
  const std::string fifo = Path("fifo");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0) << std::strerror(errno);
  const size_t fds_before = OpenFds();
  {
    Runtime rt = MakeRuntime();
    rt.block_on([](Runtime* rt, std::string fifo, bool ring) -> Task<void> {
      // Read and write: opening a FIFO so does not wait for a peer.
      absl::StatusOr<File> f =
          co_await File::open(fifo, {.read = true, .write = true});
      CO_ASSERT_TRUE(f.ok());
      JoinHandle<void> reader = spawn([](File* f) -> Task<void> {
        std::vector<char> buf(4096);
        (void)co_await f->read(buf);
        ADD_FAILURE() << "the aborted read completed";
      }(&*f));
      // In flight: in the ring, or on a pool thread.
      CO_ASSERT_TRUE(co_await Eventually([rt, ring] {
        const RuntimeMetrics m = rt->metrics();
        return ring ? m.io_in_flight == 1
                    : m.blocking.threads_alive > m.blocking.threads_idle;
      }));
      co_await AbortAndWait(reader);
      const int writer = ::open(fifo.c_str(), O_WRONLY | O_CLOEXEC);
      CO_ASSERT_TRUE(writer >= 0);
      char buf[8];
      if (ring) {
        // Cancelled, not finished: the byte is there for the next read,
        // which finds the read side free.
        EXPECT_EQ(rt->metrics().io_in_flight, 0u);
        EXPECT_EQ(::write(writer, "x", 1), 1);
        absl::StatusOr<size_t> n = co_await f->read(buf);
        CO_ASSERT_TRUE(n.ok());
        EXPECT_EQ(std::string_view(buf, *n), "x");
      } else {
        // The aborted call, if it started before the abort, takes the
        // first byte into its own buffer; else it never runs.
        EXPECT_EQ(::write(writer, "x", 1), 1);
        CO_ASSERT_TRUE(co_await Eventually([rt] {
          const RuntimeMetrics m = rt->metrics();
          return m.blocking.threads_alive == m.blocking.threads_idle;
        }));
        EXPECT_EQ(::write(writer, "y", 1), 1);
        absl::StatusOr<size_t> n = co_await f->read(buf);
        CO_ASSERT_TRUE(n.ok());
        const std::string_view got(buf, *n);
        EXPECT_TRUE(got == "y" || got == "xy") << got;
      }
      ::close(writer);
    }(&rt, fifo, OnRing()));
  }
  EXPECT_EQ(OpenFds(), fds_before);
  unlink(fifo.c_str());
}

// On io_uring a File takes one read and one write at a time, like a
// socket: a second read while one waits is refused, not queued.
TEST_P(FileBackendTest, SecondReadWhileOneWaitsIsBusyOnTheRing) {
  if (!OnRing()) GTEST_SKIP() << "the blocking pool runs both calls";
  const std::string fifo = Path("busy");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0) << std::strerror(errno);
  Runtime rt = MakeRuntime();
  rt.block_on([](Runtime* rt, std::string fifo) -> Task<void> {
    absl::StatusOr<File> f =
        co_await File::open(fifo, {.read = true, .write = true});
    CO_ASSERT_TRUE(f.ok());
    JoinHandle<std::string> first = spawn([](File* f) -> Task<std::string> {
      char buf[8];
      absl::StatusOr<size_t> n = co_await f->read(buf);
      co_return n.ok() ? std::string(buf, *n) : n.status().ToString();
    }(&*f));
    CO_ASSERT_TRUE(
        co_await Eventually([rt] { return rt->metrics().io_in_flight == 1; }));
    char buf[8];
    absl::StatusOr<size_t> second = co_await f->read(buf);
    EXPECT_TRUE(absl::IsFailedPrecondition(second.status())) << second.status();
    EXPECT_NE(second.status().message().find("busy"), std::string_view::npos);
    // The write side is free meanwhile.
    EXPECT_EQ(*co_await f->write("z"), 1u);
    EXPECT_EQ(co_await first, "z");
  }(&rt, fifo));
  unlink(fifo.c_str());
}

// Reads and writes on io_uring never touch the blocking pool (only open()
// and metadata() do); on the blocking pool each starts a pool thread again
// once the last one has timed out.
TEST_P(FileBackendTest, ReadsAndWritesUseThePoolOnlyWithoutTheRing) {
  Runtime rt = MakeRuntime(/*keep_alive=*/5ms);
  rt.block_on([](Runtime* rt, std::string path, bool ring) -> Task<void> {
    absl::StatusOr<File> f = co_await File::open(
        path, {.read = true, .write = true, .create = true, .truncate = true});
    CO_ASSERT_TRUE(f.ok());
    // The open's pool thread times out.
    CO_ASSERT_TRUE(co_await Eventually(
        [rt] { return rt->metrics().blocking.threads_alive == 0; }));
    const uint64_t spawned = rt->metrics().blocking.threads_spawned;
    const std::string data = Pattern(64 << 10);
    std::vector<char> buf(data.size());
    for (int i = 0; i < 32; ++i) {
      CO_ASSERT_TRUE((co_await f->write_all(data)).ok());
      CO_ASSERT_TRUE(
          (co_await f->write_at("abc", static_cast<uint64_t>(i))).ok());
      CO_ASSERT_TRUE((co_await f->read_at(buf, 0)).ok());
      CO_ASSERT_TRUE((co_await f->read(buf)).ok());
      CO_ASSERT_TRUE((co_await f->fsync()).ok());
      // Long enough for a pool thread to time out between rounds.
      co_await sleep(10ms);
    }
    const BlockingMetrics after = rt->metrics().blocking;
    if (ring) {
      EXPECT_EQ(after.threads_spawned, spawned);
      EXPECT_EQ(after.threads_alive, 0u);
    } else {
      EXPECT_GT(after.threads_spawned, spawned);
    }
    EXPECT_TRUE((co_await remove(path)).ok());
  }(&rt, Path("pool"), OnRing()));
}

// Readers of one big file aborted at random moments, some in the middle of
// their reads: nothing is left in flight, nothing leaks, and a task whose
// read completed saw the right bytes.
TEST_P(FileBackendTest, AbortsRacingReadsStress) {
  const std::string path = Path("stress");
  const size_t fds_before = OpenFds();
  {
    Runtime rt = MakeRuntime();
    const int rounds = 40 * StressScale();
    rt.block_on([](std::string path, int rounds) -> Task<void> {
      const std::string data = Pattern(4 << 20);
      CO_ASSERT_TRUE((co_await write(path, data)).ok());
      std::mt19937 rng(7);
      for (int r = 0; r < rounds; ++r) {
        std::vector<JoinHandle<void>> readers;
        for (int i = 0; i < 4; ++i) {
          readers.push_back(spawn(
              [](std::string path, const std::string* data) -> Task<void> {
                absl::StatusOr<File> f = co_await File::open(path);
                if (!f.ok()) {
                  ADD_FAILURE() << f.status();
                  co_return;
                }
                auto buf = std::make_unique<char[]>(1 << 20);
                for (uint64_t at = 0; at < data->size(); at += 1 << 20) {
                  absl::StatusOr<size_t> n =
                      co_await f->read_at(std::span(buf.get(), 1 << 20), at);
                  if (!n.ok() || *n == 0 ||
                      std::memcmp(buf.get(), data->data() + at, *n) != 0) {
                    ADD_FAILURE() << "bad read at " << at;
                    co_return;
                  }
                }
              }(path, &data)));
        }
        co_await sleep(std::chrono::microseconds(rng() % 300));
        for (JoinHandle<void>& h : readers) co_await AbortAndWait(h);
      }
      EXPECT_TRUE((co_await remove(path)).ok());
    }(path, rounds));
    EXPECT_EQ(rt.metrics().io_in_flight, 0u);
  }
  EXPECT_EQ(OpenFds(), fds_before);
}

INSTANTIATE_TEST_SUITE_P(
    Backends, FileBackendTest,
    ::testing::Values(
        Config{"uring", false, IoDriverKind::kUring},
        Config{"epoll", false, IoDriverKind::kEpoll},
        Config{"current_thread_uring", true, IoDriverKind::kUring},
        Config{"current_thread_epoll", true, IoDriverKind::kEpoll}),
    [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace tidepool::fs
