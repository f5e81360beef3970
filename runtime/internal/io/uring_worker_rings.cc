#include "runtime/internal/io/uring_worker_rings.h"

#include <liburing.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/strings/str_cat.h"
#include "runtime/internal/io/uring_ops.h"
#include "runtime/internal/mutex.h"
#include "runtime/internal/task_header.h"

namespace tidepool::internal {
namespace {

constexpr unsigned kEntries = 1024;

class WorkerRings;

// Whether submitting `op` only arms a wait for input (WorkerRing::Flush):
// a read-side socket op (a file read starts the read).
bool WaitsForInput(const IoOp& op) {
  return ReadsSide(op) && !IsFileOp(op.code);
}

// One worker's ring. The worker thread owns it: only that thread submits
// to it and reaps it (with SINGLE_ISSUER | DEFER_TASKRUN the kernel insists,
// and runs the ring's completion work only when that thread asks for
// events, so no other thread is ever interrupted for it). Other threads
// hand it cancellations through the inbox, and wake it with the eventfd.
class WorkerRing final : public IoWaiter {
 public:
  // Any thread (the building one): the ring starts disabled, and becomes
  // the worker's when that thread enables it (Attach).
  absl::Status Init(unsigned flags) {
    io_uring_params params{};
    params.flags = flags | IORING_SETUP_R_DISABLED | IORING_SETUP_SUBMIT_ALL |
                   IORING_SETUP_CLAMP;
    const int r = io_uring_queue_init_params(kEntries, &ring_, &params);
    if (r < 0) return absl::ErrnoToStatus(-r, "tidepool: io_uring_setup");
    ring_ok_ = true;
    constexpr uint32_t kNeeded =
        IORING_FEAT_EXT_ARG | IORING_FEAT_NODROP | IORING_FEAT_FAST_POLL;
    if ((params.features & kNeeded) != kNeeded) {
      return absl::UnavailableError(
          "tidepool: io_uring lacks EXT_ARG, NODROP or FAST_POLL (kernel "
          "older than 5.11)");
    }
    wake_fd_ = eventfd(0, EFD_CLOEXEC);
    if (wake_fd_ < 0) return absl::ErrnoToStatus(errno, "tidepool: eventfd");
    return absl::OkStatus();
  }

  ~WorkerRing() override {
    if (ring_ok_) io_uring_queue_exit(&ring_);
    if (wake_fd_ >= 0) close(wake_fd_);
  }

  // The owning worker's thread, first thing: it becomes the ring's only
  // submitter.
  void Attach() {
    const long r = syscall(__NR_io_uring_register, ring_.ring_fd,
                           IORING_REGISTER_ENABLE_RINGS, nullptr, 0);
    if (r < 0) {
      std::fprintf(stderr, "tidepool: enabling a worker's io_uring: %s\n",
                   strerror(errno));
      std::abort();
    }
    ArmWakeRead();
    Submit();
  }

  // The owning thread, last thing: ends every operation still in flight
  // and reaps it, so that no completion is left for a thread that is gone.
  // Cancellations handed over from now on are settled by their senders.
  void Detach() {
    ServiceInbox();
    io_uring_sqe* sqe = GetSqe();
    io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
    io_uring_sqe_set_data64(sqe, kUringCancelTag);
    Submit();
    while (InFlight() > 0) {
      WaitForEvents(1'000'000);
      Reap();
    }
    MutexLock lock(&inbox_mu_);
    detached_ = true;
    SettleLocked();
  }

  // Owner thread. Queues `op` (already claimed and referenced) for the
  // next Flush.
  void Prepare(IoOp* op) {
    // relaxed: written and read for counting by this thread only; others
    // read it for metrics.
    in_flight_.store(InFlight() + 1, std::memory_order_relaxed);
    UringPrepare(GetSqe(), op);
    pending_ = true;
    if (!WaitsForInput(*op)) pending_starts_ = true;
  }

  // Owner thread, after a task poll. Submits what the poll queued, except
  // that operations which only wait for input (a receive, an accept, a
  // readiness poll) are held while this worker has local tasks to poll
  // next, until its next Poll() or Wait(), which submit before they reap:
  // holding them delays nothing, as their completions reach their tasks
  // only when this thread reaps the ring, and it does so only then (it
  // found no task in its LIFO slot, its queue or the inject queue, or the
  // fair tick). Many connections each starting
  // a receive then cost one io_uring_enter, not one each. An operation
  // whose submission itself does something (a send, a connect, a file
  // write) goes out after its poll.
  void Flush(bool more_local_work) {
    ServiceInbox();
    if (pending_ && (pending_starts_ || !more_local_work)) Submit();
  }

  // Owner thread, never blocks: runs the ring's deferred completion work if
  // the kernel flagged some, reaps, and wakes tasks.
  size_t Poll() {
    ServiceInbox();
    if (pending_) Submit();
    if (InFlight() == 0) return 0;
    // relaxed: a hint that completion work waits; the get_events syscall
    // that follows orders the rest.
    if (std::atomic_ref<unsigned>(*ring_.sq.kflags)
            .load(std::memory_order_relaxed) &
        IORING_SQ_TASKRUN) {
      io_uring_get_events(&ring_);
    }
    return Reap();
  }

  // Owner thread (a parked worker): see IoWaiter::Wait.
  void Wait(std::optional<std::chrono::steady_clock::time_point> deadline,
            uint64_t unparks_seen) override {
    ServiceInbox();
    if (pending_) Submit();
    bool unparked = false;
    if (Reap(&unparked) > 0 || unparked) return;
    if (UnparkedSince(unparks_seen)) return;
    const int64_t timeout_ns = UringTimeoutNs(deadline);
    if (timeout_ns == 0) return;
    WaitForEvents(timeout_ns);
    ServiceInbox();
    Reap();
  }

  // Owner thread: cancels `op` and reaps this ring until it is done.
  void CancelHere(IoOp* op) {
    io_uring_sqe* sqe = GetSqe();
    io_uring_prep_cancel64(sqe, reinterpret_cast<uintptr_t>(op), 0);
    io_uring_sqe_set_data64(sqe, kUringCancelTag);
    Submit();
    // acquire: pairs with the release of done in UringComplete.
    while (!op->done.load(std::memory_order_acquire)) {
      if (Reap() == 0 && !op->done.load(std::memory_order_acquire)) {
        WaitForEvents(1'000'000);
      }
    }
  }

  // Owner thread: submits a cancellation of `op` without waiting.
  void RequestCancelHere(IoOp* op) {
    io_uring_sqe* sqe = GetSqe();
    io_uring_prep_cancel64(sqe, reinterpret_cast<uintptr_t>(op), 0);
    io_uring_sqe_set_data64(sqe, kUringCancelTag);
    Submit();
  }

  // Any other thread: hands the ring a cancellation of `op` (which must
  // stay alive until op->forwarded_cancel leaves kCancelPosted) and wakes
  // its thread.
  void PostCancel(IoOp* op) {
    {
      MutexLock lock(&inbox_mu_);
      // Queued once at a time: the settling of the first entry lets the
      // poster free the op, so a second entry's settling would write to
      // freed memory. A deadline and an abort may both ask. relaxed: every
      // post of an op comes to the ring it was started on (IoOp::ring),
      // under this mutex.
      if (op->forwarded_cancel.load(std::memory_order_relaxed) ==
          IoOp::kCancelPosted) {
        return;
      }
      // relaxed: read by the poster itself, and by the owner under
      // inbox_mu_; the release that ends it is in SettleLocked().
      op->forwarded_cancel.store(IoOp::kCancelPosted,
                                 std::memory_order_relaxed);
      if (!detached_) {
        ops_.push_back(op);
        // release: pairs with the acquire in ServiceInbox(); a hint, the
        // lists themselves are read under inbox_mu_.
        inbox_ready_.store(true, std::memory_order_release);
      } else {
        // The ring's thread is gone, and ended everything in flight first.
        op->forwarded_cancel.store(IoOp::kCancelHandled,
                                   std::memory_order_release);
      }
    }
    Unpark();
  }

  // The op's owner (Forget): takes back a cancellation of `op` posted here
  // that this ring's thread has not submitted yet. The op is done, or about
  // to be cancelled again by the caller, so the request is not needed; the
  // owner then need not wait for this thread's next poll or wait.
  void Withdraw(IoOp* op) {
    MutexLock lock(&inbox_mu_);
    // relaxed: every post and settling of the op happens here, under
    // inbox_mu_ too.
    if (op->forwarded_cancel.load(std::memory_order_relaxed) !=
        IoOp::kCancelPosted) {
      return;
    }
    // Posted and not settled: PostCancel marks an op posted only with the
    // push, so it is in the list.
    auto it = std::find(ops_.begin(), ops_.end(), op);
    if (it == ops_.end()) {
      std::fprintf(stderr,
                   "tidepool: a posted cancellation is missing from "
                   "its ring's inbox\n");
      std::abort();
    }
    ops_.erase(it);
    op->forwarded_cancel.store(IoOp::kCancelHandled, std::memory_order_relaxed);
  }

  // Any other thread: hands the ring a cancellation of everything in
  // flight on `source`'s descriptor. Holds a reference on the source until
  // the ring's thread has submitted it, so the descriptor stays open (its
  // number cannot name another socket meanwhile).
  void PostCancelFd(IoSource* source) {
    source->Ref();
    {
      MutexLock lock(&inbox_mu_);
      if (detached_) {
        source->Unref();
        return;
      }
      fds_.push_back(source);
      // release: pairs with the acquire in ServiceInbox(); a hint, the
      // lists themselves are read under inbox_mu_.
      inbox_ready_.store(true, std::memory_order_release);
    }
    Unpark();
  }

  // The kernel flagged deferred completion work, or completions wait in the
  // queue. relaxed, both: a hint for a spinning owner, whose Wait() then
  // reads the ring properly.
  bool SpinsBeforeWait() const override { return true; }
  bool Ready() const override {
    return (std::atomic_ref<unsigned>(*ring_.sq.kflags)
                .load(std::memory_order_relaxed) &
            IORING_SQ_TASKRUN) != 0 ||
           std::atomic_ref<unsigned>(*ring_.cq.ktail)
                   .load(std::memory_order_relaxed) !=
               std::atomic_ref<unsigned>(*ring_.cq.khead)
                   .load(std::memory_order_relaxed);
  }

  size_t InFlight() const {
    // relaxed: see Prepare().
    return in_flight_.load(std::memory_order_relaxed);
  }

 protected:
  void WakeWaiter() override {
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = write(wake_fd_, &one, sizeof(one));
  }

 private:
  io_uring_sqe* GetSqe() {
    io_uring_sqe* sqe;
    while ((sqe = io_uring_get_sqe(&ring_)) == nullptr) Submit();
    return sqe;
  }

  void Submit() {
    pending_ = false;
    pending_starts_ = false;
    while (true) {
      const int r = io_uring_submit(&ring_);
      if (r >= 0 || (r != -EINTR && r != -EAGAIN && r != -EBUSY)) return;
      // Short of memory or a long overflow list: reap, then retry.
      Reap();
    }
  }

  void ArmWakeRead() {
    io_uring_sqe* sqe = GetSqe();
    io_uring_prep_read(sqe, wake_fd_, &wake_buf_, sizeof(wake_buf_), 0);
    io_uring_sqe_set_data64(sqe, kUringWakeTag);
    pending_ = true;
  }

  // timeout_ns < 0: none. Runs the ring's deferred completion work and
  // returns when a completion is ready, on timeout, or on a signal.
  void WaitForEvents(int64_t timeout_ns) {
    UringWaitForEvents(&ring_, timeout_ns);
  }

  // Submits what other threads handed over, then tells them. Inline, as a
  // worker calls it after every task poll (Flush) and finds it empty.
  void ServiceInbox() {
    // acquire: pairs with the release in PostCancel()/PostCancelFd().
    if (inbox_ready_.load(std::memory_order_acquire)) ServiceInboxSlow();
  }

  ABSL_ATTRIBUTE_NOINLINE void ServiceInboxSlow() {
    MutexLock lock(&inbox_mu_);
    inbox_ready_.store(false, std::memory_order_relaxed);
    for (IoOp* op : ops_) {
      io_uring_sqe* sqe = GetSqe();
      io_uring_prep_cancel64(sqe, reinterpret_cast<uintptr_t>(op), 0);
      io_uring_sqe_set_data64(sqe, kUringCancelTag);
    }
    for (IoSource* source : fds_) {
      io_uring_sqe* sqe = GetSqe();
      io_uring_prep_cancel_fd(sqe, source->fd, IORING_ASYNC_CANCEL_ALL);
      io_uring_sqe_set_data64(sqe, kUringCancelTag);
    }
    // A socket's cancellation is carried out during the submission, so the
    // requests are done with once it returns.
    if (!ops_.empty() || !fds_.empty()) Submit();
    SettleLocked();
  }

  void SettleLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(inbox_mu_) {
    for (IoOp* op : ops_) {
      // release: the op's poster may free it once it sees this; pairs with
      // the acquire in WorkerRings::Forget(). Not touched afterwards.
      op->forwarded_cancel.store(IoOp::kCancelHandled,
                                 std::memory_order_release);
    }
    ops_.clear();
    for (IoSource* source : fds_) source->Unref();
    fds_.clear();
  }

  // Publishes every ready completion and wakes the tasks. Returns how many
  // tasks it woke; sets *unparked when it consumed an Unpark() wake-up.
  size_t Reap(bool* unparked = nullptr) {
    size_t woken = 0;
    const bool rearm = UringReapCompletions(&ring_, [&](TaskHeader* task) {
      // relaxed: see Prepare().
      in_flight_.store(InFlight() - 1, std::memory_order_relaxed);
      task->Wake();
      task->Unref();
      ++woken;
    });
    if (unparked != nullptr) *unparked = rearm;
    if (rearm) {
      ArmWakeRead();
      Submit();
    }
    return woken;
  }

  io_uring ring_{};
  bool ring_ok_ = false;
  int wake_fd_ = -1;
  uint64_t wake_buf_ = 0;  // written by the kernel; the value is unused
  // The owner's only.
  bool pending_ = false;  // SQEs prepared and not yet submitted
  // Among them, one whose submission starts work rather than a wait.
  bool pending_starts_ = false;
  std::atomic<size_t> in_flight_{0};

  Mutex inbox_mu_;
  std::vector<IoOp*> ops_ ABSL_GUARDED_BY(inbox_mu_);
  std::vector<IoSource*> fds_ ABSL_GUARDED_BY(inbox_mu_);
  bool detached_ ABSL_GUARDED_BY(inbox_mu_) = false;
  // Whether the lists may be non-empty: the owner's cheap look.
  std::atomic<bool> inbox_ready_{false};
};

// The calling worker thread's driver and ring, set between AttachWorker and
// DetachWorker. A thread is a worker of one runtime at most.
thread_local const IoDriver* tls_owner = nullptr;
thread_local WorkerRing* tls_ring = nullptr;
thread_local uint16_t tls_ring_index = 0;

class WorkerRings final : public IoDriver {
 public:
  absl::Status Init(size_t workers, unsigned flags, std::string_view mode) {
    mode_ = mode;
    file_ops_ = UringFileOpsSupported();
    rings_.reserve(workers);
    for (size_t i = 0; i < workers; ++i) {
      rings_.push_back(std::make_unique<WorkerRing>());
      if (absl::Status s = rings_.back()->Init(flags); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  IoDriverKind kind() const override { return IoDriverKind::kUring; }
  std::string_view mode() const override { return mode_; }
  // Blocking sockets: io_uring waits for readiness itself (FAST_POLL).
  int socket_flags() const override { return 0; }
  bool file_ops() const override { return file_ops_; }

  void AttachWorker(size_t index) override {
    tls_owner = this;
    tls_ring = rings_[index].get();
    tls_ring_index = static_cast<uint16_t>(index);
    tls_ring->Attach();
  }
  void DetachWorker() override {
    if (!Mine()) return;
    tls_ring->Detach();
    tls_owner = nullptr;
    tls_ring = nullptr;
  }
  IoWaiter* ParkTarget(size_t index, bool) override {
    return rings_[index].get();
  }

  absl::StatusOr<IoSource*> Register(int fd) override {
    return new UringSource(fd);
  }
  absl::StatusOr<IoSource*> RegisterUnowned(int fd) override {
    return new UringSource(fd, /*owns_fd=*/false);
  }

  void Deregister(IoSource* io) override {
    auto* source = static_cast<UringSource*>(io);
    // seq_cst, with the claim's compare-and-swap and re-check in Start():
    // either that start sees the close and fails, or this sees its side
    // claimed (store buffering).
    source->closed.store(true, std::memory_order_seq_cst);
    CancelSide(source, source->reading);
    CancelSide(source, source->writing);
    source->Unref();
  }

  bool TryNow(IoOp* op) override { return UringTryNow(op); }

  bool Start(IoOp* op, TaskHeader* task) override {
    if (!Mine()) {
      // A socket is used by tasks of the runtime that made it, which run
      // on its workers; anything else has no ring to go to.
      op->result = -EPERM;
      // relaxed: the op was never handed over; its owner reads it.
      op->done.store(true, std::memory_order_relaxed);
      return false;
    }
    auto* source = static_cast<UringSource*>(op->source);
    // seq_cst: claims the side (pairs with the release in UringComplete
    // that freed it) and orders the close re-check after it (pairs with
    // Deregister). The side names this ring for a closing thread.
    if (!source->ClaimSide(*op, tls_ring_index)) {
      op->result = -EBUSY;
      // relaxed: the op was never handed over; its owner reads it.
      op->done.store(true, std::memory_order_relaxed);
      return false;
    }
    if (source->closed.load(std::memory_order_seq_cst)) {
      source->side(*op).store(0, std::memory_order_release);
      op->result = -EBADF;
      // relaxed: as above.
      op->done.store(true, std::memory_order_relaxed);
      return false;
    }
    task->Ref();
    op->waker = task;
    op->started = true;
    op->ring = tls_ring_index;
    // release: the hand-over of the op to the reaping (owner) thread, for
    // sanitizers; pairs with the acquire in UringComplete.
    op->done.store(false, std::memory_order_release);
    tls_ring->Prepare(op);
    return true;
  }

  void Cancel(IoOp* op) override {
    WorkerRing* ring = RingOf(*op);
    if (ring == tls_ring) {
      ring->CancelHere(op);
      return;
    }
    ring->PostCancel(op);
    // Until the op's ring has ended it. A worker keeps serving its own
    // inbox and ring meanwhile: its ring may hold what the other waits for.
    // acquire: pairs with the release of done in UringComplete.
    while (!op->done.load(std::memory_order_acquire)) Pause();
    Forget(op);
  }

  void RequestCancel(IoOp* op) override {
    // acquire: as in Cancel(); a done op has nothing left to cancel.
    if (op->done.load(std::memory_order_acquire)) return;
    WorkerRing* ring = RingOf(*op);
    if (ring == tls_ring) {
      ring->RequestCancelHere(op);
    } else {
      ring->PostCancel(op);
    }
  }

  void Forget(IoOp* op) override {
    // acquire: pairs with the release in WorkerRing::SettleLocked(); after
    // it the ring never names the op again.
    if (op->forwarded_cancel.load(std::memory_order_acquire) !=
        IoOp::kCancelPosted) {
      return;
    }
    RingOf(*op)->Withdraw(op);
  }

  void Flush(bool more_local_work) override {
    if (Mine()) tls_ring->Flush(more_local_work);
  }
  size_t Poll() override { return Mine() ? tls_ring->Poll() : 0; }

  // The driver itself is never a park target; its workers park in their
  // rings.
  void Wait(std::optional<std::chrono::steady_clock::time_point>,
            uint64_t) override {}

  size_t in_flight() const override {
    size_t n = 0;
    for (const auto& r : rings_) n += r->InFlight();
    return n;
  }

 protected:
  void WakeWaiter() override {}

 private:
  // The calling thread is one of this runtime's workers.
  bool Mine() const { return tls_owner == this; }

  // The ring `op` was started on (IoOp::ring, written by Start before the
  // op was shared: a canceller reads it after what handed it the op).
  WorkerRing* RingOf(const IoOp& op) { return rings_[op.ring].get(); }

  void CancelSide(UringSource* source, const std::atomic<uint16_t>& side) {
    // seq_cst: see Deregister(). The value names the holder's ring.
    const uint16_t held = side.load(std::memory_order_seq_cst);
    if (held == 0) return;
    rings_[held - 1]->PostCancelFd(source);
  }

  // While waiting for another ring: serve this worker's own ring, whose
  // thread is this one, then let the other run.
  void Pause() {
    if (Mine()) tls_ring->Poll();
    std::this_thread::yield();
  }

  std::vector<std::unique_ptr<WorkerRing>> rings_;
  std::string_view mode_;
  bool file_ops_ = false;
};

}  // namespace

absl::StatusOr<std::unique_ptr<IoDriver>> NewUringWorkerRings(size_t workers) {
  if (workers > UINT16_MAX) {
    return absl::InvalidArgumentError("tidepool: too many workers for rings");
  }
  struct Attempt {
    unsigned flags;
    std::string_view mode;
  };
  constexpr Attempt kAttempts[] = {
      {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
           IORING_SETUP_TASKRUN_FLAG,
       "ring per worker (DEFER_TASKRUN)"},
      {IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
       "ring per worker (COOP_TASKRUN)"},
  };
  absl::Status last;
  for (const Attempt& a : kAttempts) {
    auto driver = std::make_unique<WorkerRings>();
    last = driver->Init(workers, a.flags, a.mode);
    if (last.ok()) return std::unique_ptr<IoDriver>(std::move(driver));
  }
  return last;
}

}  // namespace tidepool::internal
