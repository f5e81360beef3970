// The automatic fallback to epoll, in a child process whose seccomp filter
// makes io_uring_setup fail with ENOSYS, as a sandbox without io_uring does.
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "gtest/gtest.h"
#include "runtime/runtime.h"

namespace tidepool {
namespace {

void DenyIoUring() {
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
      BPF_STMT(BPF_RET | BPF_K,
               SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog prog{sizeof(filter) / sizeof(filter[0]), filter};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
      prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
    std::perror("seccomp");
    std::exit(3);
  }
}

void FallBackOrFail() {
  DenyIoUring();
  auto forced =
      Builder().worker_threads(1).io_driver(IoDriverKind::kUring).build();
  if (forced.ok()) {
    std::fprintf(stderr, "uring was built despite the filter\n");
    std::exit(1);
  }
  std::fprintf(stderr, "forced uring: %s\n",
               forced.status().ToString().c_str());
  auto rt = Builder().worker_threads(1).build();  // io_driver auto
  if (!rt.ok()) std::exit(1);
  if (rt->metrics().io_driver != "epoll") std::exit(1);
  // And sockets work on the fallback.
  auto echo = []() -> Task<bool> {
    auto listener = TcpListener::bind(*SocketAddress::Parse("127.0.0.1:0"));
    if (!listener.ok()) co_return false;
    auto c = co_await TcpStream::connect(*listener->local_address());
    auto s = co_await listener->accept();
    if (!c.ok() || !s.ok()) co_return false;
    if (!(co_await c->write_all("x")).ok()) co_return false;
    char b;
    auto n = co_await s->read(std::span<char>(&b, 1));
    co_return n.ok() && *n == 1 && b == 'x';
  };
  std::exit(rt->block_on(echo()) ? 0 : 1);
}

TEST(IoFallbackDeathTest, AutoFallsBackToEpollWhenIoUringIsRefused) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(FallBackOrFail(), ::testing::ExitedWithCode(0),
              "forced uring: UNIMPLEMENTED: tidepool: io_uring_setup");
}

}  // namespace
}  // namespace tidepool
