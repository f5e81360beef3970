#ifndef TIDEPOOL_RUNTIME_INTERNAL_IO_URING_OPS_H_
#define TIDEPOOL_RUNTIME_INTERNAL_IO_URING_OPS_H_

// What the two io_uring drivers share (uring_driver.cc, one ring for the
// runtime; uring_worker_rings.cc, a ring per worker): the per-descriptor
// state, the try-at-once path, and the translation of an IoOp into an SQE.

#include <liburing.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>

#include "runtime/internal/io/io_driver.h"

namespace tidepool::internal {

// user_data of a driver's own requests; an IoOp* is never this small.
inline constexpr uint64_t kUringWakeTag = 1;
inline constexpr uint64_t kUringCancelTag = 2;

// io_uring itself would run two reads of one socket side by side; the
// epoll driver cannot, and both drivers must behave alike, so each side of
// a socket takes one op at a time here too.
struct UringSource : IoSource {
  using IoSource::IoSource;
  // Each side: 0 while free, else 1 + the index of the ring the op holding
  // it went to (always 1 with the shared ring), so that a thread closing
  // the socket reads the holder's ring in the same load that finds the
  // side held. Claimed by a compare-and-swap from 0 (a start that finds the
  // side held changes nothing), freed by a release store of 0 on
  // completion: one op's use of the socket happens before the next op's.
  std::atomic<uint16_t> reading{0};
  std::atomic<uint16_t> writing{0};
  // The last receive tried at once found nothing, and no receive through
  // the ring has since hinted that more is waiting: the next receive goes
  // straight to the ring, saving a recv() that would likely fail (a
  // request/response peer sends nothing until it has our answer). Cleared
  // when a ring receive fills its buffer or a readable() finds data.
  // relaxed: a hint; any value is correct, only the syscall count differs.
  std::atomic<bool> recv_waits{false};
  std::atomic<uint16_t>& side(const IoOp& op) {
    return ReadsSide(op) ? reading : writing;
  }
  // Claims `op`'s side for an op going to ring `ring_index` (0 with the
  // shared ring); false if another op holds it. seq_cst, on success and
  // failure: the claim takes the previous op's use of the socket (pairs
  // with the release that freed the side), is one half of the close
  // handshake with a ring per worker (Deregister), and a start refused as
  // busy happens after the holder's claim, so what the refused task does
  // next (closing the socket) is ordered after what the holder did before
  // it (reading the socket's fields).
  bool ClaimSide(const IoOp& op, uint16_t ring_index) {
    uint16_t free = 0;
    return side(op).compare_exchange_strong(
        free, static_cast<uint16_t>(ring_index + 1), std::memory_order_seq_cst,
        std::memory_order_seq_cst);
  }
};

// The operation done now without blocking, with MSG_DONTWAIT on the
// driver's blocking socket, or -EAGAIN: either it would block, or it is one
// that cannot be tried that way (accept, connect, file ops), which only a
// ring runs.
int64_t UringAttemptNow(const IoOp& op);

// IoDriver::TryNow for both io_uring drivers: a socket operation that can
// finish at once (a send with room in the socket buffer, a receive with
// data waiting) is done with one syscall. Through a ring it would cost a
// suspension, a submission, a reap and a wake-up; only what would block
// goes there. -EBADF on a closed source.
bool UringTryNow(IoOp* op);

// Nanoseconds until `deadline` for UringWaitForEvents: -1 without one, 0
// once it has passed.
int64_t UringTimeoutNs(
    std::optional<std::chrono::steady_clock::time_point> deadline);
// Waits in `ring` (running its deferred completion work) until a
// completion is ready, `timeout_ns` passes (-1: no timeout), or a signal.
void UringWaitForEvents(io_uring* ring, int64_t timeout_ns);

// Whether the kernel's io_uring has READ, WRITE and FSYNC (5.6 on): what
// IoDriver::file_ops() reports. Probed once per process, on a ring of its
// own.
bool UringFileOpsSupported();

// A source for a file's descriptor, which it owns: any io_uring driver
// whose file_ops() is true takes its ops, whichever runtime it belongs to.
// It is never registered with a driver: a file has no readiness to watch,
// its owner (fs::File) runs one op at a time and closes it only with none
// in flight, so there is nothing to deregister; the last Unref closes it.
IoSource* NewFileSource(int fd);

// Fills `sqe` for `op` (user_data: the op itself).
void UringPrepare(io_uring_sqe* sqe, IoOp* op);

// Consumes every ready completion of `ring`: for each op's, calls
// `on_done(task)` with the task UringComplete returned (the caller wakes it
// and drops its reference); the driver's own cancellations are skipped.
// Returns whether the eventfd wake-up read completed (to be re-armed).
template <typename OnDone>
bool UringReapCompletions(io_uring* ring, OnDone on_done);

// Publishes a completion of `op` with `res`: frees the op's side of its
// socket, and returns the task to wake (holding the op's reference to it).
// The op must not be touched afterwards: its owner may free it at once.
TaskHeader* UringComplete(IoOp* op, int32_t res);

template <typename OnDone>
bool UringReapCompletions(io_uring* ring, OnDone on_done) {
  std::array<io_uring_cqe*, 64> cqes;
  bool woke = false;
  while (true) {
    const unsigned n = io_uring_peek_batch_cqe(ring, cqes.data(), cqes.size());
    if (n == 0) break;
    for (unsigned i = 0; i < n; ++i) {
      const uint64_t data = io_uring_cqe_get_data64(cqes[i]);
      if (data == kUringWakeTag) {
        woke = true;
      } else if (data != kUringCancelTag) {
        on_done(
            UringComplete(reinterpret_cast<IoOp*>(static_cast<uintptr_t>(data)),
                          cqes[i]->res));
      }
    }
    io_uring_cq_advance(ring, n);
  }
  return woke;
}

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_INTERNAL_IO_URING_OPS_H_
