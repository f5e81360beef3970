// AsyncFd on pipes and sockets, run once per I/O driver.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "gtest/gtest.h"
#include "runtime/runtime.h"
#include "tests/runtime/net/net_test_util.h"
#include "tests/util/test_util.h"

namespace tidepool {
namespace {

using ::tidepool::testing::AbortAndWait;
using ::tidepool::testing::OpenFds;

using namespace std::chrono_literals;

class AsyncFdTest : public ::tidepool::testing::DriverTest {};

// A non-blocking pipe, closed with the object.
struct Pipe {
  Pipe() {
    int fds[2];
    EXPECT_EQ(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
    read_fd = fds[0];
    write_fd = fds[1];
  }
  ~Pipe() {
    if (read_fd >= 0) close(read_fd);
    if (write_fd >= 0) close(write_fd);
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;

  // Reads until EAGAIN; the bytes read.
  size_t Drain() const {
    size_t total = 0;
    char buf[65536];
    ssize_t n;
    while ((n = read(read_fd, buf, sizeof(buf))) > 0) total += n;
    return total;
  }
  // Writes until EAGAIN: the pipe is full.
  void Fill() const {
    const std::string chunk(65536, 'f');
    while (write(write_fd, chunk.data(), chunk.size()) > 0) {
    }
  }

  int read_fd = -1;
  int write_fd = -1;
};

// A task's whole body: one await, so that the test can watch it wait.
Task<absl::Status> WaitReadable(AsyncFd* a) {
  co_return co_await a->readable();
}
Task<absl::Status> WaitWritable(AsyncFd* a) {
  co_return co_await a->writable();
}

TEST_P(AsyncFdTest, ReadableAfterAWrite) {
  Runtime rt = MakeRuntime();
  Pipe p;
  auto root = [&]() -> Task<std::string> {
    absl::StatusOr<AsyncFd> afd = AsyncFd::create(p.read_fd);
    if (!afd.ok()) co_return afd.status().ToString();
    JoinHandle<absl::Status> w = spawn(WaitReadable(&*afd));
    co_await sleep(10ms);
    // Nothing to read yet: the waiter cannot have finished.
    if (w.is_finished()) co_return "readable before the write";
    if (write(p.write_fd, "x", 1) != 1) co_return "write";
    if (absl::Status st = co_await w; !st.ok()) co_return st.ToString();
    char c;
    if (read(p.read_fd, &c, 1) != 1) co_return "read";
    co_return std::string(1, c);
  };
  EXPECT_EQ(rt.block_on(root()), "x");
  EXPECT_EQ(rt.metrics().io_in_flight, 0u);
}

TEST_P(AsyncFdTest, ReadinessIsNotRememberedAfterEagain) {
  Runtime rt = MakeRuntime();
  Pipe p;
  auto root = [&]() -> Task<std::string> {
    auto afd = AsyncFd::create(p.read_fd);
    if (!afd.ok()) co_return afd.status().ToString();
    if (write(p.write_fd, "ab", 2) != 2) co_return "write";
    // Readable, and still readable while the bytes stay: each await looks
    // at the descriptor as it is now.
    if (!(co_await afd->readable()).ok()) co_return "first readable";
    if (!(co_await afd->readable()).ok()) co_return "second readable";
    // Read until EAGAIN: the next await waits for new data.
    if (p.Drain() != 2) co_return "drain";
    absl::Status idle = co_await timeout(20ms, afd->readable());
    if (!absl::IsDeadlineExceeded(idle)) {
      co_return "readable after EAGAIN: " + idle.ToString();
    }
    if (write(p.write_fd, "c", 1) != 1) co_return "write again";
    if (!(co_await afd->readable()).ok()) co_return "readable after write";
    co_return std::to_string(p.Drain());
  };
  EXPECT_EQ(rt.block_on(root()), "1");
  EXPECT_EQ(rt.metrics().io_in_flight, 0u);
}

TEST_P(AsyncFdTest, WritableUntilFullThenAfterARead) {
  Runtime rt = MakeRuntime();
  Pipe p;
  auto root = [&]() -> Task<std::string> {
    auto afd = AsyncFd::create(p.write_fd);
    if (!afd.ok()) co_return afd.status().ToString();
    if (!(co_await afd->writable()).ok()) co_return "empty pipe not writable";
    p.Fill();
    absl::Status full = co_await timeout(20ms, afd->writable());
    if (!absl::IsDeadlineExceeded(full)) {
      co_return "writable when full: " + full.ToString();
    }
    JoinHandle<absl::Status> w = spawn(WaitWritable(&*afd));
    co_await sleep(10ms);
    if (w.is_finished()) co_return "writable before the read";
    p.Drain();
    absl::Status st = co_await w;
    co_return st.ok() ? "ok" : st.ToString();
  };
  EXPECT_EQ(rt.block_on(root()), "ok");
}

TEST_P(AsyncFdTest, HangupCountsAsReadable) {
  Runtime rt = MakeRuntime();
  Pipe p;
  auto root = [&]() -> Task<std::string> {
    auto afd = AsyncFd::create(p.read_fd);
    JoinHandle<absl::Status> w = spawn(WaitReadable(&*afd));
    co_await sleep(10ms);
    close(std::exchange(p.write_fd, -1));
    absl::Status st = co_await w;
    if (!st.ok()) co_return st.ToString();
    char c;
    co_return "read " + std::to_string(read(p.read_fd, &c, 1));
  };
  EXPECT_EQ(rt.block_on(root()), "read 0");
}

TEST_P(AsyncFdTest, ReadableAndWritableAtOnceButNotTwoReadables) {
  Runtime rt = MakeRuntime();
  auto root = []() -> Task<std::string> {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) != 0) {
      co_return "socketpair";
    }
    auto afd = AsyncFd::create(sv[0]);
    JoinHandle<absl::Status> r = spawn(WaitReadable(&*afd));
    co_await sleep(10ms);
    absl::Status writable = co_await afd->writable();  // the other side
    absl::Status second = co_await afd->readable();
    (void)write(sv[1], "x", 1);
    absl::Status first = co_await r;
    afd->deregister();
    close(sv[0]);
    close(sv[1]);
    co_return writable.ToString() + " | " + first.ToString() + " | " +
        std::string(absl::StatusCodeToString(second.code()));
  };
  EXPECT_EQ(rt.block_on(root()), "OK | OK | FAILED_PRECONDITION");
}

TEST_P(AsyncFdTest, DeregisterEndsAPendingWaitAndLeavesTheFdOpen) {
  Runtime rt = MakeRuntime();
  Pipe p;
  auto root = [&]() -> Task<std::string> {
    auto afd = AsyncFd::create(p.read_fd);
    JoinHandle<absl::Status> w = spawn(WaitReadable(&*afd));
    co_await sleep(10ms);
    afd->deregister();
    absl::Status ended = co_await w;
    absl::Status after = co_await afd->readable();
    // The descriptor is the caller's: still open and usable.
    if (fcntl(p.read_fd, F_GETFD) < 0) co_return "descriptor was closed";
    if (write(p.write_fd, "y", 1) != 1 || p.Drain() != 1) co_return "pipe";
    co_return std::string(absl::StatusCodeToString(ended.code())) + " | " +
        std::string(after.message());
  };
  EXPECT_EQ(rt.block_on(root()), "CANCELLED | readable: Bad file descriptor");
}

TEST_P(AsyncFdTest, DestroyingItNeverClosesTheDescriptor) {
  const size_t fds_before = OpenFds();
  {
    Runtime rt = MakeRuntime();
    Pipe p;
    const size_t fds_with_pipe = OpenFds();
    auto root = [&]() -> Task<bool> {
      for (int i = 0; i < 4; ++i) {
        auto r = AsyncFd::create(p.read_fd);
        auto w = AsyncFd::create(p.write_fd);
        if (!r.ok() || !w.ok()) co_return false;
        if (!(co_await w->writable()).ok()) co_return false;
      }
      co_return true;
    };
    EXPECT_TRUE(rt.block_on(root()));
    EXPECT_EQ(OpenFds(), fds_with_pipe);
    EXPECT_GE(fcntl(p.read_fd, F_GETFD), 0);
    EXPECT_GE(fcntl(p.write_fd, F_GETFD), 0);
  }
  EXPECT_EQ(OpenFds(), fds_before);
}

TEST_P(AsyncFdTest, BadDescriptorsAndRegularFilesAreRefused) {
  Runtime rt = MakeRuntime();
  auto root = []() -> Task<std::string> {
    auto bad = AsyncFd::create(-1);
    FILE* f = tmpfile();
    auto file = AsyncFd::create(fileno(f));
    fclose(f);
    co_return std::string(absl::StatusCodeToString(bad.status().code())) + " " +
        std::string(absl::StatusCodeToString(file.status().code()));
  };
  // EBADF maps to FAILED_PRECONDITION.
  EXPECT_EQ(rt.block_on(root()), "FAILED_PRECONDITION INVALID_ARGUMENT");
}

TEST_P(AsyncFdTest, AbortMidWaitLeaksNothing) {
  const size_t fds_before = OpenFds();
  {
    Runtime rt = MakeRuntime();
    Pipe p;
    auto waiter = [](int fd,
                     std::shared_ptr<std::atomic<bool>> waiting) -> Task<void> {
      auto afd = AsyncFd::create(fd);
      if (!afd.ok()) co_return;
      waiting->store(true);
      (void)co_await afd->readable();
    };
    auto root = [&]() -> Task<bool> {
      auto waiting = std::make_shared<std::atomic<bool>>(false);
      JoinHandle<void> h = spawn(waiter(p.read_fd, waiting));
      while (!waiting->load()) co_await sleep(1ms);
      co_await sleep(10ms);
      co_await AbortAndWait(h);
      // The pipe is still the caller's, and can be watched again.
      auto again = AsyncFd::create(p.read_fd);
      if (!again.ok()) co_return false;
      (void)write(p.write_fd, "z", 1);
      co_return (co_await again->readable()).ok();
    };
    EXPECT_TRUE(rt.block_on(root()));
    EXPECT_EQ(rt.metrics().io_in_flight, 0u);
  }
  EXPECT_EQ(OpenFds(), fds_before);
}

// A non-blocking socket driven by hand, as a library would drive it:
// attempt, and on EAGAIN await readiness and attempt again.
TEST_P(AsyncFdTest, DrivesANonBlockingSocketLikeALibraryWould) {
  Runtime rt = MakeRuntime();
  auto root = []() -> Task<std::string> {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) != 0) {
      co_return "socketpair";
    }
    auto afd = AsyncFd::create(sv[0]);
    auto writer = [](int fd) -> Task<void> {
      for (std::string_view part : {"he", "ll", "o"}) {
        co_await sleep(2ms);
        (void)write(fd, part.data(), part.size());
      }
      close(fd);
    };
    JoinHandle<void> w = spawn(writer(sv[1]));
    std::string got;
    char buf[16];
    while (true) {
      const ssize_t n = read(sv[0], buf, sizeof(buf));
      if (n == 0) break;
      if (n > 0) {
        got.append(buf, n);
        continue;
      }
      if (errno != EAGAIN) co_return "read error";
      if (!(co_await afd->readable()).ok()) co_return "readable";
    }
    co_await w;
    afd->deregister();
    close(sv[0]);
    co_return got;
  };
  EXPECT_EQ(rt.block_on(root()), "hello");
}

TIDEPOOL_INSTANTIATE_FOR_DRIVERS(AsyncFdTest);

}  // namespace
}  // namespace tidepool
