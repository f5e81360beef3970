#include "runtime/internal/io/uring_ops.h"

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <utility>

namespace tidepool::internal {

int64_t UringAttemptNow(const IoOp& op) {
  const int fd = op.source->fd;
  while (true) {
    ssize_t r = 0;
    switch (op.code) {
      case IoOp::Code::kRecv:
        r = recv(fd, op.buf, op.len, op.recv_flags | MSG_DONTWAIT);
        break;
      case IoOp::Code::kSend:
        r = send(fd, op.buf, op.len, MSG_NOSIGNAL | MSG_DONTWAIT);
        break;
      case IoOp::Code::kSendMsg:
        r = sendmsg(fd, static_cast<const msghdr*>(op.buf),
                    MSG_NOSIGNAL | MSG_DONTWAIT);
        break;
      case IoOp::Code::kRecvMsg:
        r = recvmsg(fd, static_cast<msghdr*>(op.buf),
                    op.recv_flags | MSG_DONTWAIT);
        break;
      case IoOp::Code::kPoll: {
        pollfd p{fd, static_cast<short>(op.poll_events), 0};
        r = poll(&p, 1, 0);
        if (r == 0) return -EAGAIN;
        if (r > 0) return (p.revents & POLLNVAL) ? -EBADF : p.revents;
        break;
      }
      case IoOp::Code::kAccept:
      case IoOp::Code::kConnect:
        return -EAGAIN;
      // A file is always "ready": trying a read here would run it, page
      // cache misses and all, on the worker. The ring runs it instead
      // (inline when it cannot block, else on the kernel's io-wq threads).
      case IoOp::Code::kFileRead:
      case IoOp::Code::kFileWrite:
      case IoOp::Code::kFsync:
        return -EAGAIN;
    }
    if (r >= 0) return r;
    if (errno == EINTR) continue;
    return errno == EWOULDBLOCK ? -EAGAIN : -errno;
  }
}

bool UringTryNow(IoOp* op) {
  auto* source = static_cast<UringSource*>(op->source);
  const bool recv = op->code == IoOp::Code::kRecv;
  // relaxed: see recv_waits.
  if (recv && source->recv_waits.load(std::memory_order_relaxed)) {
    return false;
  }
  // acquire: pairs with the store of closed in the drivers' Deregister().
  const int64_t r = source->closed.load(std::memory_order_acquire)
                        ? -EBADF
                        : UringAttemptNow(*op);
  if (r == -EAGAIN) {
    // relaxed: see recv_waits.
    if (recv) source->recv_waits.store(true, std::memory_order_relaxed);
    return false;
  }
  op->result = r;
  // relaxed: the owner reads its own result; nobody else saw the op.
  op->done.store(true, std::memory_order_relaxed);
  return true;
}

int64_t UringTimeoutNs(
    std::optional<std::chrono::steady_clock::time_point> deadline) {
  if (!deadline) return -1;
  const auto left = *deadline - std::chrono::steady_clock::now();
  return std::max<int64_t>(
      0, std::chrono::duration_cast<std::chrono::nanoseconds>(left).count());
}

void UringWaitForEvents(io_uring* ring, int64_t timeout_ns) {
  __kernel_timespec ts{timeout_ns / 1'000'000'000, timeout_ns % 1'000'000'000};
  io_uring_getevents_arg arg{};
  arg.sigmask = 0;
  arg.sigmask_sz = _NSIG / 8;
  arg.ts = timeout_ns < 0 ? 0 : reinterpret_cast<uintptr_t>(&ts);
  io_uring_enter2(ring->ring_fd, 0, 1,
                  IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG,
                  reinterpret_cast<sigset_t*>(&arg), sizeof(arg));
}

void UringPrepare(io_uring_sqe* sqe, IoOp* op) {
  const int fd = op->source->fd;
  switch (op->code) {
    case IoOp::Code::kAccept:
      io_uring_prep_accept(sqe, fd, nullptr, nullptr, SOCK_CLOEXEC);
      break;
    case IoOp::Code::kConnect:
      io_uring_prep_connect(sqe, fd, op->addr, op->addr_len);
      break;
    case IoOp::Code::kRecv:
      io_uring_prep_recv(sqe, fd, op->buf, op->len, op->recv_flags);
      break;
    case IoOp::Code::kSend:
      io_uring_prep_send(sqe, fd, op->buf, op->len, MSG_NOSIGNAL);
      break;
    case IoOp::Code::kSendMsg:
      io_uring_prep_sendmsg(sqe, fd, static_cast<const msghdr*>(op->buf),
                            MSG_NOSIGNAL);
      break;
    case IoOp::Code::kRecvMsg:
      io_uring_prep_recvmsg(sqe, fd, static_cast<msghdr*>(op->buf),
                            static_cast<unsigned>(op->recv_flags));
      break;
    case IoOp::Code::kPoll:
      // One-shot and level-triggered: completes at once if the descriptor
      // is ready now, so no readiness is carried between ops.
      io_uring_prep_poll_add(sqe, fd, op->poll_events);
      break;
    // The offset's all-ones form (-1) asks for the file position.
    case IoOp::Code::kFileRead:
      io_uring_prep_read(sqe, fd, op->buf, static_cast<unsigned>(op->len),
                         static_cast<uint64_t>(op->offset));
      break;
    case IoOp::Code::kFileWrite:
      io_uring_prep_write(sqe, fd, op->buf, static_cast<unsigned>(op->len),
                          static_cast<uint64_t>(op->offset));
      break;
    case IoOp::Code::kFsync:
      io_uring_prep_fsync(sqe, fd, 0);
      break;
  }
  io_uring_sqe_set_data64(sqe, reinterpret_cast<uintptr_t>(op));
}

bool UringFileOpsSupported() {
  static const bool supported = [] {
    io_uring_probe* probe = io_uring_get_probe();
    if (probe == nullptr) return false;
    const bool ok = io_uring_opcode_supported(probe, IORING_OP_READ) &&
                    io_uring_opcode_supported(probe, IORING_OP_WRITE) &&
                    io_uring_opcode_supported(probe, IORING_OP_FSYNC);
    io_uring_free_probe(probe);
    return ok;
  }();
  return supported;
}

IoSource* NewFileSource(int fd) { return new UringSource(fd); }

TaskHeader* UringComplete(IoOp* op, int32_t res) {
  // acquire: pairs with the release of done when the op was started, its
  // hand-over to the driver.
  (void)op->done.load(std::memory_order_acquire);
  op->result = res;
  auto* source = static_cast<UringSource*>(op->source);
  if (op->code == IoOp::Code::kRecv && res > 0 &&
      ((op->recv_flags & MSG_PEEK) != 0 ||
       static_cast<size_t>(res) == op->len)) {
    // relaxed: see recv_waits.
    source->recv_waits.store(false, std::memory_order_relaxed);
  }
  // release: frees the side for the next op; pairs with the
  // compare-and-swap that claims it when an op starts (ClaimSide).
  source->side(*op).store(0, std::memory_order_release);
  TaskHeader* waker = std::exchange(op->waker, nullptr);
  // release: the result before done; the owner may free the op as soon as
  // it sees done, so it is not touched after this store. Pairs with the
  // acquire in the drivers' Cancel() and RequestCancel() and in
  // IoAwaitable's destructor.
  op->done.store(true, std::memory_order_release);
  return waker;
}

}  // namespace tidepool::internal
