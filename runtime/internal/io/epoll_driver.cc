#include "runtime/internal/io/epoll_driver.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <ctime>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runtime/internal/mutex.h"
#include "runtime/internal/task_header.h"

namespace tidepool::internal {
namespace {

constexpr uint32_t kReadEvents =
    EPOLLIN | EPOLLPRI | EPOLLRDHUP | EPOLLHUP | EPOLLERR;
// See EpollSource::read_irregular.
constexpr uint32_t kIrregularEvents = EPOLLRDHUP | EPOLLERR | EPOLLPRI;
constexpr uint32_t kWriteEvents = EPOLLOUT | EPOLLHUP | EPOLLERR;

class EpollDriver;

struct EpollSource : IoSource {
  EpollSource(int fd, EpollDriver* driver, bool owns_fd)
      : IoSource(fd, owns_fd), driver(driver), short_read_drains(IsTcp(fd)) {}
  void Release() override;

  // A TCP receive returns fewer bytes than asked for only when the socket
  // had no more, or the end of stream, an error or urgent data comes next
  // (read_irregular covers those): tcp_recvmsg copies until the buffer is
  // full or the queue is empty. Other sockets' short reads say nothing: a
  // UDP receive takes one datagram, a Unix stream receive stops at a
  // message carrying descriptors. So only TCP sockets skip the try
  // (recv_drained).
  static bool IsTcp(int fd) {
    int type = 0;
    int protocol = 0;
    socklen_t len = sizeof(type);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 ||
        type != SOCK_STREAM) {
      return false;
    }
    len = sizeof(protocol);
    return getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &protocol, &len) == 0 &&
           protocol == IPPROTO_TCP;
  }

  EpollDriver* const driver;
  Mutex mu;
  // The operation waiting for readability (accept, recv) and the one waiting
  // for writability (connect, send); at most one of each.
  IoOp* reader ABSL_GUARDED_BY(mu) = nullptr;
  IoOp* writer ABSL_GUARDED_BY(mu) = nullptr;
  // A readability event came while no reader was parked, and no read has
  // tried since. A read-side op reaches Start() only after its TryNow()
  // found nothing; unless an event came since, Start() parks it without
  // trying again, since any input that arrives after that try raises an
  // event. True at first: nothing is known before the first event.
  bool read_event ABSL_GUARDED_BY(mu) = true;
  // The last read found the socket drained: a receive that found nothing,
  // or on TCP (short_read_drains) fewer bytes than it asked for. The next
  // receive then skips TryNow()'s recv and goes to Start(), which tries
  // only after an event: a socket that a read left empty raises one when
  // input next arrives. Cleared by anything that says input may be left
  // (a receive that filled its buffer, end of stream, an error, a peek or
  // readiness poll that found input).
  // relaxed: set and read by the reading task and by the poller retrying
  // its parked op, which hands the op over through `mu` and its wake-up.
  std::atomic<bool> recv_drained{false};
  const bool short_read_drains;
  // The peer shut its side, the socket failed, or urgent data came
  // (kIrregularEvents seen): a read may then stop short of input that is
  // there (the end of stream, the error, the bytes behind the urgent mark),
  // with no event to say so again, so neither the skip above nor Start()'s
  // wait for an event applies any more. Not HUP alone: a socket not yet
  // connected reports HUP. Set under `mu`; relaxed: TryNow() reads it as a
  // hint, Start() under `mu`.
  std::atomic<bool> read_irregular{false};
  // release in Register, acquire by the poller before first use: epoll_ctl
  // and epoll_wait order the two through the kernel, which sanitizers cannot
  // see, so the hand-over is stated here too.
  std::atomic<bool> registered{false};
};

// Attempt()'s "not yet: park the op until readiness". Not an errno, so
// that an EAGAIN which is an op's outcome can be reported as one.
constexpr int64_t kWouldBlock = INT64_MIN;

// The result of the syscall behind `op` (a count or -errno), or
// kWouldBlock when it would block. `first` is the op's first attempt:
// connect() starts the handshake then, and later attempts only look at its
// outcome.
int64_t Attempt(IoOp* op, bool first) {
  const int fd = op->source->fd;
  while (true) {
    int64_t r = 0;
    switch (op->code) {
      case IoOp::Code::kAccept:
        r = accept4(fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        break;
      case IoOp::Code::kRecv:
        r = recv(fd, op->buf, op->len, op->recv_flags);
        break;
      case IoOp::Code::kSend:
        r = send(fd, op->buf, op->len, MSG_NOSIGNAL);
        break;
      case IoOp::Code::kSendMsg:
        r = sendmsg(fd, static_cast<const msghdr*>(op->buf), MSG_NOSIGNAL);
        break;
      case IoOp::Code::kRecvMsg:
        r = recvmsg(fd, static_cast<msghdr*>(op->buf), op->recv_flags);
        break;
      case IoOp::Code::kPoll: {
        // The state now, not a remembered edge: an op started after the
        // caller drained the descriptor waits for the next readiness.
        pollfd p{fd, static_cast<short>(op->poll_events), 0};
        r = poll(&p, 1, 0);
        if (r == 0) return kWouldBlock;
        if (r > 0) {
          if (p.revents & POLLNVAL) return -EBADF;
          return p.revents;
        }
        break;
      }
      case IoOp::Code::kConnect:
        if (first) {
          r = connect(fd, op->addr, op->addr_len);
          if (r < 0 && errno == EINPROGRESS) return kWouldBlock;
          // EAGAIN here started nothing (a Unix listener's backlog is
          // full, or TCP ran out of local ports): it is the outcome, not
          // a handshake to wait for. Parking would mistake the unconnected
          // socket's writability for success.
          if (r < 0 && errno == EAGAIN) return -EAGAIN;
          break;
        }
        // Writability ends the handshake; SO_ERROR then tells how. A
        // spurious wake-up must not be mistaken for success, hence the
        // poll().
        {
          pollfd p{fd, POLLOUT, 0};
          if (poll(&p, 1, 0) == 0) return kWouldBlock;
          int err = 0;
          socklen_t len = sizeof(err);
          if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) {
            return -errno;
          }
          return -err;
        }
      // Never sent here (file_ops() is false: runtime/fs uses the blocking
      // pool); a regular file is always "ready", so parking means nothing.
      case IoOp::Code::kFileRead:
      case IoOp::Code::kFileWrite:
      case IoOp::Code::kFsync:
        return -EOPNOTSUPP;
    }
    if (r >= 0) return r;
    if (errno == EINTR) continue;
    if (errno == EWOULDBLOCK) return kWouldBlock;
    return -errno;
  }
}

class EpollDriver final : public IoDriver {
 public:
  EpollDriver(int epfd, int wake_fd) : epfd_(epfd), wake_fd_(wake_fd) {}

  ~EpollDriver() override {
    FreeRetired();
    close(wake_fd_);
    close(epfd_);
  }

  IoDriverKind kind() const override { return IoDriverKind::kEpoll; }
  std::string_view mode() const override { return "epoll"; }
  int socket_flags() const override { return SOCK_NONBLOCK; }

  absl::StatusOr<IoSource*> Register(int fd) override {
    return Add(new EpollSource(fd, this, /*owns_fd=*/true));
  }
  absl::StatusOr<IoSource*> RegisterUnowned(int fd) override {
    return Add(new EpollSource(fd, this, /*owns_fd=*/false));
  }

  void Deregister(IoSource* source) override {
    auto* s = static_cast<EpollSource*>(source);
    // release: pairs with the acquire loads in TryNow() and Start(); an op
    // started after the close sees it and fails with EBADF.
    s->closed.store(true, std::memory_order_release);
    std::vector<TaskHeader*> wake;
    {
      // Ends whatever is parked on it (a task awaiting a read of a socket
      // another task closes).
      MutexLock lock(&s->mu);
      for (IoOp** slot : {&s->reader, &s->writer}) {
        if (*slot != nullptr) Publish(*slot, -ECANCELED, wake);
      }
    }
    WakeAll(wake);
    epoll_ctl(epfd_, EPOLL_CTL_DEL, source->fd, nullptr);
    source->Unref();
  }

  // A released source's memory: a poll in progress may hold it among its
  // returned events, so it is freed only by the next poll, which starts
  // after that one ends.
  void Retire(EpollSource* source) {
    MutexLock lock(&retired_mu_);
    retired_.push_back(source);
  }

  bool TryNow(IoOp* op) override {
    auto* source = static_cast<EpollSource*>(op->source);
    // relaxed: see recv_drained.
    if (IsPlainRecv(*op) &&
        source->recv_drained.load(std::memory_order_relaxed) &&
        !source->read_irregular.load(std::memory_order_relaxed)) {
      return false;
    }
    // acquire: pairs with the release in Deregister().
    const int64_t r = source->closed.load(std::memory_order_acquire)
                          ? -EBADF
                          : Attempt(op, /*first=*/true);
    NoteRead(source, *op, r);
    if (r == kWouldBlock) return false;
    op->result = r;
    // relaxed: the owner reads its own result; nobody else saw the op.
    op->done.store(true, std::memory_order_relaxed);
    return true;
  }

  bool Start(IoOp* op, TaskHeader* task) override {
    auto* source = static_cast<EpollSource*>(op->source);
    MutexLock lock(&source->mu);
    IoOp*& slot = ReadsSide(*op) ? source->reader : source->writer;
    if (slot != nullptr) {
      op->result = -EBUSY;  // two tasks reading (or writing) one socket
      // relaxed: as in TryNow(); the op was never handed over.
      op->done.store(true, std::memory_order_relaxed);
      return false;
    }
    // Readiness may have arrived between TryNow and taking the lock; its
    // event found no waiter. Retry under the lock, which events also take:
    // a reader only if such an event came (read_event), a writer always.
    // Deregister takes it too, so a closed source is seen here. acquire:
    // pairs with the release in Deregister().
    int64_t r = kWouldBlock;
    if (source->closed.load(std::memory_order_acquire)) {
      r = -EBADF;
    } else if (!ReadsSide(*op)) {
      r = Attempt(op, /*first=*/false);
    } else if (std::exchange(source->read_event, false) ||
               source->read_irregular.load(std::memory_order_relaxed)) {
      r = Attempt(op, /*first=*/false);
      NoteRead(source, *op, r);
    }
    if (r != kWouldBlock) {
      op->result = r;
      // relaxed: as in TryNow(); the op was never handed over.
      op->done.store(true, std::memory_order_relaxed);
      return false;
    }
    task->Ref();
    op->waker = task;
    op->started = true;
    slot = op;
    // relaxed: a count for in_flight(), a statistic and a polling hint.
    in_flight_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }

  void Cancel(IoOp* op) override {
    auto* source = static_cast<EpollSource*>(op->source);
    TaskHeader* waker = nullptr;
    {
      MutexLock lock(&source->mu);
      IoOp*& slot = ReadsSide(*op) ? source->reader : source->writer;
      // Completion clears the slot under this lock, so either the op is
      // still parked here or the driver is done with it.
      if (slot != op) return;
      slot = nullptr;
      waker = std::exchange(op->waker, nullptr);
      // relaxed: as in Start().
      in_flight_.fetch_sub(1, std::memory_order_relaxed);
    }
    waker->Unref();
  }

  void RequestCancel(IoOp* op) override {
    auto* source = static_cast<EpollSource*>(op->source);
    std::vector<TaskHeader*> wake;
    {
      MutexLock lock(&source->mu);
      IoOp*& slot = ReadsSide(*op) ? source->reader : source->writer;
      // Completion clears the slot under this lock: an op no longer parked
      // here is done.
      if (slot != op) return;
      Publish(slot, -ECANCELED, wake);
    }
    WakeAll(wake);
  }

  void Flush(bool) override {}

  size_t Poll() override {
    if (in_flight() == 0 || !poll_mu_.TryLock()) return 0;
    const size_t woken = PollLocked(0);
    poll_mu_.Unlock();
    return woken;
  }

  void Wait(std::optional<std::chrono::steady_clock::time_point> deadline,
            uint64_t unparks_seen) override {
    MutexLock lock(&poll_mu_);
    // Its eventfd wake-up may have been drained by another thread's Poll().
    if (UnparkedSince(unparks_seen)) {
      PollLocked(0);
      return;
    }
    int64_t timeout_ns = -1;
    if (deadline) {
      const auto left = *deadline - std::chrono::steady_clock::now();
      timeout_ns = std::max<int64_t>(
          0,
          std::chrono::duration_cast<std::chrono::nanoseconds>(left).count());
    }
    PollLocked(timeout_ns);
  }

  // The last worker to park, when it also watches the driver, spins
  // watching the epoll set: a request/response peer's next message usually
  // comes within the spin, and catching it there saves the wake-up of a
  // thread asleep in epoll_wait (tens of microseconds on a VM whose vCPU
  // halted). Each look is a poll(2) of the epoll descriptor, which is
  // readable while events are queued and consumes none.
  bool SpinsBeforeWait() const override { return true; }
  bool Ready() const override {
    pollfd p{epfd_, POLLIN, 0};
    return poll(&p, 1, 0) > 0;
  }

  void WakeWaiter() override {
    const uint64_t one = 1;
    // A full counter (never reached in practice) still leaves the eventfd
    // readable, which is all a wake-up needs.
    [[maybe_unused]] const ssize_t n = write(wake_fd_, &one, sizeof(one));
  }

 private:
  // Adds the source's descriptor to the epoll set; on failure releases the
  // source (which closes the descriptor if it owns it).
  absl::StatusOr<IoSource*> Add(EpollSource* source) {
    const int fd = source->fd;
    // release: the source, built on this thread, is complete before the
    // kernel can return it as an event; pairs with the acquire load in
    // PollLocked(), since the epoll set itself is no C++ synchronization.
    source->registered.store(true, std::memory_order_release);
    epoll_event ev{};
    // Edge-triggered: one event per readiness change, so a descriptor with
    // nobody waiting on it costs nothing after its first event.
    ev.events = EPOLLIN | EPOLLPRI | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.ptr = source;
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) < 0) {
      const int err = errno;
      source->Unref();
      return absl::ErrnoToStatus(err, "tidepool: epoll_ctl(EPOLL_CTL_ADD)");
    }
    return source;
  }

  // timeout_ns < 0: no timeout.
  size_t PollLocked(int64_t timeout_ns)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(poll_mu_) {
    FreeRetired();
    std::array<epoll_event, 128> events;
    int n;
    if (timeout_ns < 0) {
      n = epoll_wait(epfd_, events.data(), events.size(), -1);
    } else {
      const timespec ts{static_cast<time_t>(timeout_ns / 1'000'000'000),
                        static_cast<long>(timeout_ns % 1'000'000'000)};
      n = epoll_pwait2(epfd_, events.data(), events.size(), &ts, nullptr);
      if (n < 0 && errno == ENOSYS) {
        // Kernels before 5.11: millisecond timeout, rounded up so that a
        // deadline is never reported early.
        n = epoll_wait(epfd_, events.data(), events.size(),
                       static_cast<int>((timeout_ns + 999'999) / 1'000'000));
      }
    }
    if (n <= 0) return 0;  // timeout or EINTR
    std::vector<TaskHeader*> wake;
    for (int i = 0; i < n; ++i) {
      auto* source = static_cast<EpollSource*>(events[i].data.ptr);
      if (source == nullptr) {
        uint64_t count;
        [[maybe_unused]] const ssize_t r =
            read(wake_fd_, &count, sizeof(count));
        continue;
      }
      // acquire: pairs with the release in Add().
      (void)source->registered.load(std::memory_order_acquire);
      MutexLock lock(&source->mu);
      if (events[i].events & kIrregularEvents) {
        // relaxed: see read_irregular.
        source->read_irregular.store(true, std::memory_order_relaxed);
      }
      if (events[i].events & kReadEvents) {
        if (source->reader != nullptr) {
          Retry(source->reader, wake);
        } else {
          source->read_event = true;
        }
      }
      if ((events[i].events & kWriteEvents) && source->writer != nullptr) {
        Retry(source->writer, wake);
      }
    }
    WakeAll(wake);
    return wake.size();
  }

  static void WakeAll(const std::vector<TaskHeader*>& wake) {
    for (TaskHeader* t : wake) {
      t->Wake();
      t->Unref();
    }
  }

  // Under the source's lock: publishes `result` for the op in `slot`,
  // clears the slot, and collects the waker (with its reference).
  void Publish(IoOp*& slot, int64_t result, std::vector<TaskHeader*>& wake) {
    IoOp* op = slot;
    op->result = result;
    wake.push_back(std::exchange(op->waker, nullptr));
    slot = nullptr;
    // relaxed: as in Start().
    in_flight_.fetch_sub(1, std::memory_order_relaxed);
    // release: the result is visible to whoever sees done (the owner may
    // free the op right after, so it is not touched again here); pairs
    // with the acquire in IoAwaitable's destructor. The woken task reads
    // the result after the wake-up, which orders it too.
    op->done.store(true, std::memory_order_release);
  }

  // Under the source's lock: retries the op parked in `slot` and publishes
  // its result unless it would still block.
  void Retry(IoOp*& slot, std::vector<TaskHeader*>& wake) {
    const int64_t r = Attempt(slot, /*first=*/false);
    NoteRead(static_cast<EpollSource*>(slot->source), *slot, r);
    if (r != kWouldBlock) Publish(slot, r, wake);
  }

  // A receive that consumes what it reads (no MSG_PEEK).
  static bool IsPlainRecv(const IoOp& op) {
    return op.code == IoOp::Code::kRecv && (op.recv_flags & MSG_PEEK) == 0;
  }

  // Updates recv_drained from the outcome `r` of a read-side attempt.
  static void NoteRead(EpollSource* source, const IoOp& op, int64_t r) {
    if (!ReadsSide(op)) return;
    bool drained;
    if (IsPlainRecv(op)) {
      drained = r == kWouldBlock || (source->short_read_drains && r > 0 &&
                                     static_cast<size_t>(r) < op.len);
    } else if (r != kWouldBlock) {
      drained = false;  // a peek or poll that found input (or an error)
    } else {
      return;
    }
    // relaxed: see recv_drained.
    source->recv_drained.store(drained, std::memory_order_relaxed);
  }

  void FreeRetired() {
    std::vector<EpollSource*> retired;
    {
      MutexLock lock(&retired_mu_);
      retired.swap(retired_);
    }
    for (EpollSource* s : retired) delete s;
  }

  const int epfd_;
  const int wake_fd_;
  // Held by the one thread reaping events; FreeRetired relies on it.
  Mutex poll_mu_;
  Mutex retired_mu_;
  std::vector<EpollSource*> retired_ ABSL_GUARDED_BY(retired_mu_);
};

void EpollSource::Release() {
  // Deregister already took it out of the epoll set.
  if (owns_fd) close(fd);
  driver->Retire(this);
}

}  // namespace

absl::StatusOr<std::unique_ptr<IoDriver>> NewEpollDriver() {
  const int epfd = epoll_create1(EPOLL_CLOEXEC);
  if (epfd < 0) return absl::ErrnoToStatus(errno, "tidepool: epoll_create1");
  const int wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd < 0) {
    const int err = errno;
    close(epfd);
    return absl::ErrnoToStatus(err, "tidepool: eventfd");
  }
  epoll_event ev{};
  ev.events = EPOLLIN;  // level-triggered: readable until drained
  ev.data.ptr = nullptr;
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, wake_fd, &ev) < 0) {
    const int err = errno;
    close(wake_fd);
    close(epfd);
    return absl::ErrnoToStatus(err, "tidepool: epoll_ctl(eventfd)");
  }
  return std::unique_ptr<IoDriver>(new EpollDriver(epfd, wake_fd));
}

}  // namespace tidepool::internal
