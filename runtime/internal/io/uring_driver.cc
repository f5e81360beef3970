#include "runtime/internal/io/uring_driver.h"

#include <liburing.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runtime/internal/io/uring_ops.h"
#include "runtime/internal/mutex.h"
#include "runtime/internal/task_header.h"

namespace tidepool::internal {
namespace {

constexpr unsigned kEntries = 1024;
// How long Cancel() sleeps in the ring at a time while it waits for the
// cancelled op's completion.
constexpr int64_t kCancelPollNs = 1'000'000;

class UringDriver final : public IoDriver {
 public:
  UringDriver() = default;

  absl::Status Init() {
    io_uring_params params{};
    // SUBMIT_ALL: one bad SQE must not strand the ones behind it. Not
    // SINGLE_ISSUER or DEFER_TASKRUN: every worker submits to this ring, and
    // any of them may reap it.
    params.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_CLAMP;
    const int r = io_uring_queue_init_params(kEntries, &ring_, &params);
    if (r < 0) return absl::ErrnoToStatus(-r, "tidepool: io_uring_setup");
    ring_ok_ = true;
    // EXT_ARG: wait with a timeout without submitting a timeout request;
    // NODROP: completions are never lost when the CQ ring is full.
    constexpr uint32_t kNeeded =
        IORING_FEAT_EXT_ARG | IORING_FEAT_NODROP | IORING_FEAT_FAST_POLL;
    if ((params.features & kNeeded) != kNeeded) {
      return absl::UnavailableError(
          "tidepool: io_uring lacks EXT_ARG, NODROP or FAST_POLL (kernel "
          "older than 5.11)");
    }
    file_ops_ = UringFileOpsSupported();
    wake_fd_ = eventfd(0, EFD_CLOEXEC);
    if (wake_fd_ < 0) return absl::ErrnoToStatus(errno, "tidepool: eventfd");
    MutexLock lock(&sq_mu_);
    ArmWakeRead();
    const int s = io_uring_submit(&ring_);
    if (s < 0) return absl::ErrnoToStatus(-s, "tidepool: io_uring_submit");
    return absl::OkStatus();
  }

  ~UringDriver() override {
    if (ring_ok_) io_uring_queue_exit(&ring_);
    if (wake_fd_ >= 0) close(wake_fd_);
  }

  IoDriverKind kind() const override { return IoDriverKind::kUring; }
  std::string_view mode() const override { return "shared ring"; }
  // Blocking sockets: io_uring waits for readiness itself (FAST_POLL), and
  // on a non-blocking socket it would hand back -EAGAIN instead.
  int socket_flags() const override { return 0; }
  bool file_ops() const override { return file_ops_; }

  absl::StatusOr<IoSource*> Register(int fd) override {
    return new UringSource(fd);
  }
  absl::StatusOr<IoSource*> RegisterUnowned(int fd) override {
    return new UringSource(fd, /*owns_fd=*/false);
  }
  void Deregister(IoSource* source) override {
    // Before the cancellation below, under sq_mu_: a Start() that takes
    // sq_mu_ after it sees the close and fails with EBADF. release: pairs
    // with the acquire in UringTryNow, which takes no lock.
    source->closed.store(true, std::memory_order_release);
    {
      // Ends whatever is still in flight on it (a task awaiting a read of a
      // socket another task closes); their completions say -ECANCELED.
      MutexLock lock(&sq_mu_);
      io_uring_sqe* sqe = GetSqe();
      io_uring_prep_cancel_fd(sqe, source->fd, IORING_ASYNC_CANCEL_ALL);
      io_uring_sqe_set_data64(sqe, kUringCancelTag);
      // Submitted with the next Flush (after this poll, on a worker).
      // relaxed, as every access to pending_: a hint read by Flush(); the
      // submission itself happens under sq_mu_.
      pending_.store(true, std::memory_order_relaxed);
    }
    source->Unref();
  }

  bool TryNow(IoOp* op) override { return UringTryNow(op); }

  bool Start(IoOp* op, TaskHeader* task) override {
    auto* source = static_cast<UringSource*>(op->source);
    if (!source->ClaimSide(*op, /*ring_index=*/0)) {
      op->result = -EBUSY;
      // relaxed: the op was never handed over; its owner reads it.
      op->done.store(true, std::memory_order_relaxed);
      return false;
    }
    MutexLock lock(&sq_mu_);
    // Under sq_mu_, which Deregister queues its cancellation under after
    // storing `closed`: either this sees the close, or the op's SQE goes in
    // before that cancellation, which then finds it. relaxed: the mutex
    // orders the two.
    if (source->closed.load(std::memory_order_relaxed)) {
      source->side(*op).store(0, std::memory_order_release);
      op->result = -EBADF;
      // relaxed: as above.
      op->done.store(true, std::memory_order_relaxed);
      return false;
    }
    task->Ref();
    op->waker = task;
    op->started = true;
    // relaxed: a count for in_flight(), a statistic and a polling hint.
    in_flight_.fetch_add(1, std::memory_order_relaxed);
    UringPrepare(GetSqe(), op);
    // release, paired with the acquire in ReapLocked(): the kernel orders
    // submission before completion, but sanitizers cannot see that, so the
    // hand-over of the op to the reaping thread is also stated here.
    op->done.store(false, std::memory_order_release);
    // relaxed: Flush() on this same thread (after the poll) submits it;
    // any other thread's Flush only needs to see it eventually.
    pending_.store(true, std::memory_order_relaxed);
    return true;
  }

  void Cancel(IoOp* op) override {
    {
      MutexLock lock(&sq_mu_);
      io_uring_sqe* sqe = GetSqe();
      io_uring_prep_cancel64(sqe, reinterpret_cast<uintptr_t>(op), 0);
      io_uring_sqe_set_data64(sqe, kUringCancelTag);
      SubmitLocked();
    }
    // The op's buffer lives in a frame being destroyed: wait for the
    // completion (-ECANCELED, or the result if it won the race) before
    // letting the caller free it. Whoever reaps publishes it. acquire, here
    // and below: pairs with the release of done in ReapLocked().
    while (!op->done.load(std::memory_order_acquire)) {
      if (reap_mu_.TryLock()) {
        if (ReapLocked() == 0 && !op->done.load(std::memory_order_acquire)) {
          WaitLocked(kCancelPollNs);
        }
        reap_mu_.Unlock();
      } else {
        // The reaper is at work or blocked in the kernel, where this
        // completion will wake it.
        std::this_thread::yield();
      }
    }
  }

  void RequestCancel(IoOp* op) override {
    MutexLock lock(&sq_mu_);
    // acquire: pairs with ReapLocked()'s release; a done op has no request
    // left to cancel. One that completes after this look makes the cancel
    // find nothing, which is harmless: it names the op only as a key.
    if (op->done.load(std::memory_order_acquire)) return;
    io_uring_sqe* sqe = GetSqe();
    io_uring_prep_cancel64(sqe, reinterpret_cast<uintptr_t>(op), 0);
    io_uring_sqe_set_data64(sqe, kUringCancelTag);
    SubmitLocked();
  }

  void Flush(bool) override {
    // relaxed: see Deregister(); a missed flag only defers the submission
    // to the next Flush.
    if (!pending_.load(std::memory_order_relaxed)) return;
    MutexLock lock(&sq_mu_);
    SubmitLocked();
  }

  size_t Poll() override {
    // Busy workers call this often: look at the ring before taking any
    // lock, and not even that while nothing is in flight.
    if (in_flight() == 0 || !CompletionsReady() || !reap_mu_.TryLock()) {
      return 0;
    }
    const size_t woken = ReapLocked();
    reap_mu_.Unlock();
    return woken;
  }

  void Wait(std::optional<std::chrono::steady_clock::time_point> deadline,
            uint64_t unparks_seen) override {
    Flush(/*more_local_work=*/false);
    MutexLock lock(&reap_mu_);
    // An Unpark() may already have completed the eventfd read: consuming
    // its completion here and then sleeping would lose that wake-up.
    bool unparked = false;
    if (ReapLocked(&unparked) > 0 || unparked) return;
    if (UnparkedSince(unparks_seen)) return;
    const int64_t timeout_ns = UringTimeoutNs(deadline);
    if (timeout_ns == 0) return;
    WaitLocked(timeout_ns);
    ReapLocked();
  }

  void WakeWaiter() override {
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = write(wake_fd_, &one, sizeof(one));
  }

 private:
  // Outside reap_mu_, so both ends of the ring are read atomically
  // (liburing's io_uring_cq_ready reads the head plainly, racing with the
  // reaper's release store). acquire on the tail: the kernel's CQE writes
  // before it; relaxed on the head: only compared, the reaper re-reads it.
  bool CompletionsReady() {
    const unsigned tail = std::atomic_ref<unsigned>(*ring_.cq.ktail)
                              .load(std::memory_order_acquire);
    const unsigned head = std::atomic_ref<unsigned>(*ring_.cq.khead)
                              .load(std::memory_order_relaxed);
    return tail != head;
  }

  io_uring_sqe* GetSqe() ABSL_EXCLUSIVE_LOCKS_REQUIRED(sq_mu_) {
    io_uring_sqe* sqe;
    // A full submission ring: push what is queued to the kernel to make
    // room (NODROP keeps the completions safe meanwhile).
    while ((sqe = io_uring_get_sqe(&ring_)) == nullptr) SubmitLocked();
    return sqe;
  }

  void SubmitLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(sq_mu_) {
    // relaxed: see Deregister(); cleared under sq_mu_ before the submit, so
    // a flag set after it is not lost.
    pending_.store(false, std::memory_order_relaxed);
    while (true) {
      const int r = io_uring_submit(&ring_);
      if (r >= 0 || (r != -EINTR && r != -EAGAIN && r != -EBUSY)) return;
      // -EAGAIN/-EBUSY: the kernel is short of memory or the CQ overflow
      // list is long; let the reaper catch up.
      std::this_thread::yield();
    }
  }

  // A read of the eventfd that completes when Unpark() writes to it, and
  // so ends a wait in the kernel. Re-armed after each completion.
  void ArmWakeRead() ABSL_EXCLUSIVE_LOCKS_REQUIRED(sq_mu_) {
    io_uring_sqe* sqe = GetSqe();
    io_uring_prep_read(sqe, wake_fd_, &wake_buf_, sizeof(wake_buf_), 0);
    io_uring_sqe_set_data64(sqe, kUringWakeTag);
    // relaxed: see Deregister().
    pending_.store(true, std::memory_order_relaxed);
  }

  // timeout_ns < 0: no timeout. Returns when a completion is ready, on
  // timeout, or on a signal.
  void WaitLocked(int64_t timeout_ns) ABSL_EXCLUSIVE_LOCKS_REQUIRED(reap_mu_) {
    UringWaitForEvents(&ring_, timeout_ns);
  }

  // Publishes every ready completion and wakes the tasks. Returns how many
  // tasks it woke; sets *unparked when it consumed an Unpark() wake-up.
  size_t ReapLocked(bool* unparked = nullptr)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(reap_mu_) {
    std::vector<TaskHeader*> wake;
    const bool rearm = UringReapCompletions(&ring_, [&](TaskHeader* task) {
      // relaxed: as in Start().
      in_flight_.fetch_sub(1, std::memory_order_relaxed);
      wake.push_back(task);
    });
    if (unparked != nullptr) *unparked = rearm;
    if (rearm) {
      MutexLock lock(&sq_mu_);
      ArmWakeRead();
      SubmitLocked();
    }
    for (TaskHeader* t : wake) {
      t->Wake();
      t->Unref();
    }
    return wake.size();
  }

  io_uring ring_{};
  bool ring_ok_ = false;
  bool file_ops_ = false;
  int wake_fd_ = -1;
  uint64_t wake_buf_ = 0;  // written by the kernel; the value is unused
  // Guards the submission ring: any worker submits.
  Mutex sq_mu_;
  // Held by the one thread reaping the completion ring.
  Mutex reap_mu_;
  // Whether SQEs were prepared and not yet submitted.
  std::atomic<bool> pending_{false};
};

}  // namespace

absl::StatusOr<std::unique_ptr<IoDriver>> NewUringDriver() {
  auto driver = std::make_unique<UringDriver>();
  if (absl::Status s = driver->Init(); !s.ok()) return s;
  return std::unique_ptr<IoDriver>(std::move(driver));
}

}  // namespace tidepool::internal
