#ifndef TIDEPOOL_RUNTIME_INTERNAL_IO_IO_DRIVER_H_
#define TIDEPOOL_RUNTIME_INTERNAL_IO_IO_DRIVER_H_

// The I/O driver of a runtime: one per Runtime, shared by its workers. Two
// implementations with one contract, io_uring (UringDriver) and epoll
// (EpollDriver); docs/architecture.md ("I/O") explains how the driver meets
// worker parking.
//
// The contract is completion-based for both: a socket operation (IoOp) is
// started, and later completes with a result, waking the task that awaits
// it. epoll emulates this: it tries the syscall at once, and when that would
// block, the thread that polls the driver retries it on readiness. File
// reads, writes and fsyncs (kFileRead, kFileWrite, kFsync) only go to a
// driver whose file_ops() says it runs them (io_uring); runtime/fs sends
// them to the blocking pool otherwise.

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/io_driver_kind.h"

namespace tidepool::internal {

class TaskHeader;

// Which driver a runtime uses. kAuto takes io_uring and falls back to epoll
// when the kernel refuses it (io_uring_disabled, seccomp, ENOSYS, or a
// missing feature).
// Per-descriptor driver state, made by IoDriver::Register; it owns the
// descriptor. epoll keeps the operations waiting for readiness here;
// io_uring the one-op-per-side words. Reference-counted: the socket holds
// one and each awaitable holds one, because an operation can outlive its
// socket (a task aborted while a timeout() branch still reads is destroyed,
// socket and all, before that branch is). The descriptor is closed with the
// last reference, so its number is never reused while an operation might
// still name it.
struct IoSource {
  explicit IoSource(int fd, bool owns_fd = true) : fd(fd), owns_fd(owns_fd) {}
  virtual ~IoSource() = default;
  // relaxed: the caller already holds a reference, so there is nothing to
  // order.
  void Ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  // acq_rel: every use by any holder happens before the release; the
  // release half of each drop pairs with the acquire half of the last.
  void Unref() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) Release();
  }
  const int fd;
  // False for a descriptor the caller keeps (AsyncFd): releasing the source
  // leaves it open.
  const bool owns_fd;
  // Set by Deregister; operations started afterwards fail with EBADF. Each
  // driver states the ordering its start and close meet with (epoll and
  // the shared ring: release/acquire and a lock; a ring per worker: a
  // seq_cst handshake with the side's claim).
  std::atomic<bool> closed{false};

 protected:
  // The last reference is gone: close the descriptor and free the memory
  // (epoll frees it later, as a poll in progress may still hold it).
  virtual void Release() {
    if (owns_fd) close(fd);
    delete this;
  }

 private:
  std::atomic<int> refs_{1};
};

struct IoOp;
// Whether `op` waits on the read side of its socket (accept, recv, recvmsg,
// a poll for POLLIN, a file read) rather than the write side (connect,
// send, sendmsg, a poll for POLLOUT, a file write or fsync). One op per
// side may be in flight.
bool ReadsSide(const IoOp& op);

// One socket operation, owned by the awaitable that started it (it lives in
// the coroutine frame). The driver owns `buf` and `addr` from Start() until
// the completion is published through `done`; an awaitable destroyed before
// that calls IoDriver::Cancel, which returns only once the driver lets go.
struct IoOp {
  // kSendMsg and kRecvMsg move one datagram with its peer address
  // (sendmsg(2), recvmsg(2)); kPoll waits until the descriptor is ready for
  // `poll_events` (POLLIN or POLLOUT) and yields the ready events.
  // kFileRead and kFileWrite are pread(2)/pwrite(2) of `len` bytes at
  // `offset` on a file, kFsync is fsync(2): only for a driver whose
  // file_ops() is true.
  enum class Code : uint8_t {
    kAccept,
    kConnect,
    kRecv,
    kSend,
    kSendMsg,
    kRecvMsg,
    kPoll,
    kFileRead,
    kFileWrite,
    kFsync
  };

  Code code = Code::kRecv;
  IoSource* source = nullptr;
  // kRecv, kSend, kFileRead, kFileWrite: the bytes; kSendMsg, kRecvMsg:
  // the msghdr, which the awaitable holds with its iovec and address.
  void* buf = nullptr;
  size_t len = 0;
  int recv_flags = 0;  // kRecv, kRecvMsg: recv(2)'s flags (MSG_PEEK...)
  union {
    // kConnect: the peer, owned by the caller (the connecting frame) until
    // the op is done. A pointer, not storage: every op in every frame would
    // carry 128 bytes that only connect needs. kAccept asks for no address.
    const sockaddr* addr = nullptr;
    // kFileRead, kFileWrite: where in the file; -1 for the descriptor's own
    // position (a pipe, or a file opened to append). Shares addr's storage,
    // which file ops do not use, so that IoOp does not grow.
    int64_t offset;
  };
  socklen_t addr_len = 0;
  // kPoll: POLLIN or POLLOUT. Fits in the padding after addr_len.
  uint32_t poll_events = 0;

  // >= 0: the syscall's result (bytes, or the accepted fd); < 0: -errno.
  int64_t result = 0;
  // The task to wake, holding a reference, while the driver has the op.
  TaskHeader* waker = nullptr;
  bool started = false;
  // release by the completer after `result` is written, acquire by the
  // owner before reading it or freeing the op.
  std::atomic<bool> done{false};
  // With a ring per worker, a cancellation of this op that another thread
  // handed to the op's ring (kCancelPosted) until that ring's thread has
  // submitted it or IoDriver::Forget took it back (kCancelHandled); the op
  // must outlive the request, as the ring names the op by its address. In
  // the padding after `done`.
  enum : uint8_t { kNoCancel, kCancelPosted, kCancelHandled };
  std::atomic<uint8_t> forwarded_cancel{kNoCancel};
  // The task was cancelled while the op was in the driver, and the worker
  // that found it so asked the driver to end the op (RequestCancel) rather
  // than wait for it (Scheduler::CancelClaimed). Only the thread that owns
  // the task's frame touches it; the awaitable then calls Forget() before
  // the op's memory goes. In the padding after `forwarded_cancel`.
  bool cancel_requested = false;
  // With a ring per worker: the index of the ring the op was started on,
  // where its cancellations go and Forget() takes them back. Set by
  // Start() before the op is shared. In the padding.
  uint16_t ring = 0;
};
// Every I/O awaitable, so every connection's coroutine frame, carries one:
// a field for a new kind of op must fit in storage the others leave unused.
static_assert(sizeof(void*) != 8 || sizeof(IoOp) == 80,
              "IoOp grew: every connection's frame would grow with it");

// Whether `code` is a file op (kFileRead, kFileWrite, kFsync).
inline bool IsFileOp(IoOp::Code code) {
  return code == IoOp::Code::kFileRead || code == IoOp::Code::kFileWrite ||
         code == IoOp::Code::kFsync;
}

// Where a parked worker sleeps so that I/O completions also wake it: the
// runtime's driver, or with per-worker io_uring rings the worker's ring.
// Wait() is for the one thread allowed to sleep there at a time; Unpark()
// for any thread.
class IoWaiter {
 public:
  virtual ~IoWaiter() = default;

  // A parked worker: blocks until an I/O completion, an Unpark() made after
  // unparks() returned `unparks_seen`, or `deadline`; then reaps like
  // IoDriver::Poll(). The count closes a gap: a Poll() on another thread may
  // consume the eventfd wake-up of an Unpark() made before this Wait() took
  // the reaping lock, and the count still shows it.
  virtual void Wait(
      std::optional<std::chrono::steady_clock::time_point> deadline,
      uint64_t unparks_seen) = 0;
  // Any thread. Ends the current Wait(), or the next one if none is in
  // progress (sticky, like a token).
  void Unpark() {
    // seq_cst: counted before the eventfd write, and Wait() reads the count
    // under the reaping lock before it sleeps; whichever comes second sees
    // the other (the count, or the write waking the kernel wait).
    unparks_.fetch_add(1, std::memory_order_seq_cst);
    WakeWaiter();
  }
  // seq_cst: pairs with the increment in Unpark() (see there).
  uint64_t unparks() const { return unparks_.load(std::memory_order_seq_cst); }

  // Whether a sleeper may spin before Wait(), watching Ready() besides its
  // own signal: a waiter whose completions show without a syscall (a
  // worker's own ring), or with one that does not consume them (epoll).
  // Not the shared ring, whose completions reach a sleeper only inside its
  // wait.
  virtual bool SpinsBeforeWait() const { return false; }
  // Any thread, at most one cheap syscall: completion work is waiting for
  // Wait() to reap.
  virtual bool Ready() const { return false; }

 protected:
  // Makes the kernel wait of Wait() return (an eventfd write).
  virtual void WakeWaiter() = 0;
  // For Wait(), under the reaping lock: an Unpark() came since `seen`.
  bool UnparkedSince(uint64_t seen) const { return unparks() != seen; }

 private:
  std::atomic<uint64_t> unparks_{0};
};

class IoDriver : public IoWaiter {
 public:
  // Opens the requested driver for a runtime of `workers` worker threads;
  // kAuto tries io_uring first. `per_worker_rings`: io_uring may give each
  // worker thread a ring of its own (not for a current_thread runtime,
  // whose one worker is driven by whichever thread calls block_on).
  static absl::StatusOr<std::unique_ptr<IoDriver>> Create(
      IoDriverKind kind, size_t workers = 1, bool per_worker_rings = false);

  virtual IoDriverKind kind() const = 0;
  // How the driver is set up, for metrics and the log: "epoll", "shared
  // ring", "ring per worker (DEFER_TASKRUN)"...
  virtual std::string_view mode() const = 0;

  // Worker `index`'s thread, at its start and before it exits: a driver
  // with per-worker state binds it to the thread (and at exit ends what is
  // still in flight there, so nothing is left for a thread that is gone).
  virtual void AttachWorker(size_t /*index*/) {}
  virtual void DetachWorker() {}
  // Where worker `index` sleeps when it parks: the driver itself if it is
  // the `watching` worker (timers and I/O), else nowhere (nullptr: a plain
  // futex sleep). A driver with per-worker rings returns the worker's ring
  // for every worker.
  virtual IoWaiter* ParkTarget(size_t /*index*/, bool watching) {
    return watching ? this : nullptr;
  }

  // Flags for socket()/accept4() that this driver needs on new descriptors
  // (epoll: SOCK_NONBLOCK), besides SOCK_CLOEXEC which both use.
  virtual int socket_flags() const = 0;

  // Whether file reads, writes and fsyncs (IsFileOp) may be started here,
  // on a source made by NewFileSource (uring_ops.h): io_uring with READ, WRITE
  // and FSYNC in the kernel's opcodes. epoll cannot (readiness means nothing
  // for a regular file), and runtime/fs keeps them on the blocking pool then.
  virtual bool file_ops() const { return false; }

  // Any thread. Makes `fd` known to the driver, which takes it over (on
  // failure too: it is closed).
  virtual absl::StatusOr<IoSource*> Register(int fd) = 0;
  // Any thread. Like Register, for a descriptor the caller keeps: it is
  // never closed by the driver, on failure neither. For kPoll ops only
  // (AsyncFd). The caller must keep it open until the source is released.
  virtual absl::StatusOr<IoSource*> RegisterUnowned(int fd) = 0;
  // Any thread. The socket is being closed: operations in flight on it end
  // with -ECANCELED, later ones fail with -EBADF, and the caller's reference
  // is dropped (the descriptor closes when the last one goes).
  virtual void Deregister(IoSource* source) = 0;

  // Worker thread, inside the task that owns `op`. Tries to finish `op`
  // without suspending (epoll: the syscall itself; io_uring never does; both:
  // -EBADF on a closed source). True when `op->result` is final.
  virtual bool TryNow(IoOp* op) = 0;
  // Worker thread. Hands `op` to the driver, which will wake `task` (taking
  // a reference). False when it completed at once and must not suspend.
  virtual bool Start(IoOp* op, TaskHeader* task) = 0;
  // Any thread, for an op that was started and is not done: cancels it and
  // waits until the driver no longer touches it (for sockets, microseconds:
  // the kernel cancels a pending socket operation at once).
  virtual void Cancel(IoOp* op) = 0;
  // Any thread, for an op that was started and is still alive: asks for it
  // to end with -ECANCELED unless it completes first, and returns at once;
  // its completion wakes its task as usual. Nothing happens to an op that
  // is already done. For deadlines (IoAwaitable::set_deadline) and for
  // aborted tasks (Scheduler::CancelClaimed).
  virtual void RequestCancel(IoOp* op) = 0;
  // The op's owner, before the op's memory may be reused (after its
  // completion, or before a Cancel() of it): returns once no cancellation
  // request naming it is left with the driver. Only a RequestCancel()
  // handed to another thread's ring leaves one (op->forwarded_cancel says
  // so); Forget takes it back if that ring's thread has not submitted it
  // yet, so it waits at most for that ring's inbox lock.
  virtual void Forget(IoOp* /*op*/) {}

  // Called by a worker after each task poll; submits the operations that
  // poll queued (io_uring batches them into one io_uring_enter).
  // `more_local_work`: the worker has tasks of its own to poll next. A
  // driver whose completions only the calling worker reaps (a ring per
  // worker) may then hold back operations that only wait for input, as
  // their completions could not be seen before the worker's next reap
  // anyway (see there).
  virtual void Flush(bool more_local_work) = 0;

  // A worker, never blocks: reaps ready completions and wakes their tasks,
  // unless another thread is already doing so (per-worker rings: the
  // calling worker's own ring). Cheap when nothing is in flight. Returns
  // how many tasks were woken.
  virtual size_t Poll() = 0;

  // Operations currently handed to the driver (started, not yet reaped).
  // relaxed: a statistic, and a hint for whether polling is worth it.
  virtual size_t in_flight() const {
    return in_flight_.load(std::memory_order_relaxed);
  }

 protected:
  std::atomic<size_t> in_flight_{0};
};

inline bool ReadsSide(const IoOp& op) {
  switch (op.code) {
    case IoOp::Code::kAccept:
    case IoOp::Code::kRecv:
    case IoOp::Code::kRecvMsg:
    case IoOp::Code::kFileRead:
      return true;
    case IoOp::Code::kPoll:
      return (op.poll_events & POLLIN) != 0;
    case IoOp::Code::kConnect:
    case IoOp::Code::kSend:
    case IoOp::Code::kSendMsg:
    case IoOp::Code::kFileWrite:
    case IoOp::Code::kFsync:
      return false;
  }
  return false;
}

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_INTERNAL_IO_IO_DRIVER_H_
