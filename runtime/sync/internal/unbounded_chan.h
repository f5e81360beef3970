#ifndef TIDEPOOL_RUNTIME_SYNC_INTERNAL_UNBOUNDED_CHAN_H_
#define TIDEPOOL_RUNTIME_SYNC_INTERNAL_UNBOUNDED_CHAN_H_

// The shared state of an unbounded mpsc channel: a lock-free queue of
// fixed-size blocks. Only mpsc.h uses it.
//
// A send claims a position with one CAS on `tail_`, moves the value into
// that position's slot and publishes it with one exchange on the slot's
// state: two atomic read-modify-writes and no lock, however many senders
// there are. The receiver walks the slots in position order without any
// read-modify-write until it finds one unwritten; only then does it park,
// by putting its task pointer into that very slot's state, so that the
// sender who writes the slot is the one who wakes it. A wake-up therefore
// always has a value (or the end) behind it, and is never spurious.
//
// Positions count 32 per block; 31 hold values and the last one of each
// block is never a slot: the sender who claims a block's last slot moves
// `tail_` onto it while it links the next block, which it allocated before
// claiming, and senders who see `tail_` there wait for the link (a few
// stores). A sender never walks the list: `tail_block_` always holds the
// block of the position in `tail_`. The receiver recycles each block it has
// read out: all its slots were written, so no sender touches it again. One
// spare block is kept for the next link, so a steady stream from one sender
// allocates nothing (senders racing for a block's last slot may each
// allocate one; the losers' go back as the spare or are freed).
//
// Between a sender's claim and its write the head slot can be claimed but
// empty. recv parks on it (the writer wakes it); try_recv and dropping the
// receiver wait for the write, which is a few instructions away unless the
// sender was preempted, so that a value whose send returned is never
// reported missing or left behind.
//
// Values must be nothrow-move-constructible: a claimed position cannot be
// given back, so a move that throws after claiming would leave a hole the
// receiver waits on forever.

#include <algorithm>
#include <atomic>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/internal/cpu_relax.h"
#include "runtime/internal/task_header.h"
#include "runtime/sync/internal/wait_list.h"
#include "runtime/sync/try_result.h"

namespace tidepool::internal {

template <typename T>
class UnboundedChan {
  static_assert(std::is_nothrow_move_constructible_v<T>,
                "tidepool::mpsc::unbounded_channel needs a value type whose "
                "move constructor is noexcept");

 public:
  // The receiver's side of one recv(); lives in its awaiter.
  struct RecvWaiter {
    // Non-null while parked: our task, whose pointer sits in the head slot.
    TaskHeader* parked = nullptr;
  };

  UnboundedChan() : head_block_(new Block), tail_block_(head_block_) {}
  UnboundedChan(const UnboundedChan&) = delete;
  UnboundedChan& operator=(const UnboundedChan&) = delete;

  // Both ends are gone, so every claimed slot has been written. Through
  // mpsc's ends DropReceiver() already destroyed every value; a channel
  // used on its own (as a test does) may still hold some. Frees the blocks.
  ~UnboundedChan() {
    while (TakeWritten()) {
    }
    Block* b = head_block_;
    while (b != nullptr) {
      // relaxed (here and below): ordered by the shared_ptr count's acq_rel
      // drop that made us the last owner, after every other thread's use.
      Block* next = b->next.load(std::memory_order_relaxed);
      delete b;
      b = next;
    }
    delete spare_.load(std::memory_order_relaxed);
  }

  // relaxed: a count; the Sender copied from holds it above zero, and
  // DropSender()'s acq_rel orders the drops.
  void AddSender() { senders_.fetch_add(1, std::memory_order_relaxed); }

  // acq_rel: each drop releases its sender's sends, the last acquires them
  // all before Finish(); pairs with the other senders' DropSender().
  void DropSender() {
    if (senders_.fetch_sub(1, std::memory_order_acq_rel) == 1) Finish();
  }

  // acquire: pairs with the release fetch_or in Finish(): what the closing
  // side did before is visible.
  bool IsClosed() const {
    return (tail_.load(std::memory_order_acquire) & kClosed) != 0;
  }

  // Queues `value` (moving from it), or returns false, leaving it
  // untouched, once the receiver is closed or gone. Any thread.
  bool Send(T& value) {
    Block* fresh = nullptr;
    // acquire (both): pairs with the release fetch_add on tail_ in Install(),
    // so tail_block_, read after tail_, holds the position's block, set up.
    uint64_t t = tail_.load(std::memory_order_acquire);
    Block* b = tail_block_.load(std::memory_order_acquire);
    int waits = 0;
    int lost = 0;
    while (true) {
      if (t & kClosed) {
        Recycle(fresh);
        return false;
      }
      const size_t offset = Offset(t >> kShift);
      if (offset == kBlockCap) {
        // Another sender is linking the next block.
        Backoff(waits++);
        // acquire (both): as above.
        t = tail_.load(std::memory_order_acquire);
        b = tail_block_.load(std::memory_order_acquire);
        continue;
      }
      // Allocate before claiming: after the claim everybody else waits.
      if (offset + 1 == kBlockCap && fresh == nullptr) fresh = NewBlock();
      // acq_rel on success: the release pairs with the acquire of the claim
      // of this block's last slot, so our tail_block_ read above cannot see
      // that sender's Install(). acquire on failure: as the loads above.
      if (tail_.compare_exchange_weak(t, t + kOne, std::memory_order_acq_rel,
                                      std::memory_order_acquire)) {
        if (offset + 1 == kBlockCap) Install(b, std::exchange(fresh, nullptr));
        Recycle(fresh);
        Publish(b->slots[offset], value);
        return true;
      }
      BackoffAfterLostClaim(lost++);
      // acquire: as above, for the t the failed CAS reloaded.
      b = tail_block_.load(std::memory_order_acquire);
    }
  }

  // For recv's await_ready: whether the head slot holds a value, or no
  // value can come any more. The value is taken in RecvResume, so that it
  // is moved once, straight into the caller's optional.
  bool RecvReady() {
    RejectSecondReceiver();
    // acquire: the value or the end mark; pairs with the release exchange in
    // Publish() or Finish().
    const uintptr_t state = HeadSlot().state.load(std::memory_order_acquire);
    return state == kWritten || state == kEnd || Ended();
  }

  // For recv's await_suspend: parks the current task in the head slot
  // (returns true), unless a value or the end arrived meanwhile.
  bool RecvOrWait(RecvWaiter* waiter, std::coroutine_handle<> awaiting) {
    if (RecvReady()) return false;
    Slot& slot = HeadSlot();
    TaskHeader* const self = PrepareToWait(awaiting);
    uintptr_t expected = kEmpty;
    // release: our task, its reference and resume point; pairs with the
    // acquire exchange in Publish() or Finish(). acquire on failure: the
    // value or end mark they wrote meanwhile (same pair).
    if (slot.state.compare_exchange_strong(
            expected, reinterpret_cast<uintptr_t>(self),
            std::memory_order_acq_rel, std::memory_order_acquire)) {
      waiter->parked = self;
      // relaxed: only a misuse check (RejectSecondReceiver); the wake-up
      // orders it for the receiving task itself.
      receiver_parked_.store(true, std::memory_order_relaxed);
      return true;
    }
    self->Unref();
    if (expected > kEnd) {
      throw std::logic_error("tidepool: two tasks receive from one channel");
    }
    return false;  // written or ended meanwhile
  }

  // For recv's await_resume: the value at the head, or nullopt at the end.
  // Whoever woke a parked receiver wrote the head slot first.
  std::optional<T> RecvResume(RecvWaiter* waiter) {
    if (std::exchange(waiter->parked, nullptr) != nullptr) {
      // relaxed: a check against misuse; the wake-up that resumed us orders
      // it for the receiving side.
      receiver_parked_.store(false, std::memory_order_relaxed);
    }
    return TakeWritten();
  }

  // The receiving task is destroyed while parked. If a sender wrote the
  // slot meanwhile, its value stays queued and that sender owns the wake-up
  // (of a task that is going away, which is harmless).
  void CancelRecv(RecvWaiter* waiter) {
    TaskHeader* const self = std::exchange(waiter->parked, nullptr);
    if (self == nullptr) return;
    // relaxed: as in RecvResume.
    receiver_parked_.store(false, std::memory_order_relaxed);
    uintptr_t expected = reinterpret_cast<uintptr_t>(self);
    // relaxed: the slot goes back to empty, publishing nothing; on failure
    // a sender wrote it and owns the wake-up, and we read nothing of it.
    if (HeadSlot().state.compare_exchange_strong(expected, kEmpty,
                                                 std::memory_order_relaxed)) {
      self->Unref();
    }
  }

  // The value, kEmpty if none is written yet, kClosed if none can come any
  // more.
  TryResult<T, TryRecvError> TryRecv() {
    RejectSecondReceiver();
    if (std::optional<T> v = TakeClaimed()) return *std::move(v);
    return Ended() ? TryRecvError::kClosed : TryRecvError::kEmpty;
  }

  // Refuses later sends; queued values can still be received.
  void Close() { Finish(); }

  // The receiver is gone: close, and destroy every value sent before.
  void DropReceiver() {
    Finish();
    while (TakeClaimed()) {
    }
  }

 private:
  // Slot states; anything larger is the parked receiver's TaskHeader*.
  static constexpr uintptr_t kEmpty = 0;
  static constexpr uintptr_t kWritten = 1;
  static constexpr uintptr_t kEnd = 2;

  static constexpr size_t kLap = 32;
  static constexpr size_t kBlockCap = kLap - 1;
  // tail_ holds position << kShift | kClosed.
  static constexpr int kShift = 1;
  static constexpr uint64_t kClosed = 1;
  static constexpr uint64_t kOne = uint64_t{1} << kShift;

  struct Slot {
    std::atomic<uintptr_t> state{kEmpty};
    alignas(T) unsigned char storage[sizeof(T)];
    T* value() { return std::launder(reinterpret_cast<T*>(storage)); }
  };
  struct Block {
    Slot slots[kBlockCap];
    std::atomic<Block*> next{nullptr};
  };

  static size_t Offset(uint64_t position) { return position % kLap; }

  // The sender waited for is a few instructions from done (linking a block,
  // or writing the slot it claimed); if it was preempted, let it run.
  static void Backoff(int waits) {
    if (waits >= 16) {
      std::this_thread::yield();
    } else {
      CpuRelax();
    }
  }

  // Another sender's claim won, and tail_'s cache line went to its core.
  // Retrying at once, the cores bounce the line (and the slots beside it)
  // on every send, which can make many producers several times slower
  // (docs/results/history.md). A pause that doubles with each loss, up to 64,
  // lets the winner's run of sends go through.
  static void BackoffAfterLostClaim(int lost) {
    for (int i = 0; i < (1 << std::min(lost, 6)); ++i) CpuRelax();
  }

  Block* NewBlock() {
    // acquire: the block as Reset() or `new` left it; pairs with the release
    // exchange in Recycle().
    if (Block* b = spare_.exchange(nullptr, std::memory_order_acquire)) {
      return b;
    }
    return new Block;
  }

  // An emptied block, or one a sender allocated and did not link: kept as
  // the spare, or freed if there is one already.
  void Recycle(Block* b) {
    if (b == nullptr) return;
    // acq_rel: release the block to the sender that takes it (pairs with
    // NewBlock()); acquire the one we displace (pairs with its Recycle()).
    delete spare_.exchange(b, std::memory_order_acq_rel);
  }

  // We hold the last slot of `b`, so tail_ sits on the position after it,
  // where every other sender waits. Links `fresh` and lets them on.
  void Install(Block* b, Block* fresh) {
    // release (both): pairs with the acquire loads of tail_, then
    // tail_block_, in Send() and Finish(): the new position's block, set up.
    tail_block_.store(fresh, std::memory_order_release);
    tail_.fetch_add(kOne, std::memory_order_release);
    // release: pairs with the acquire load of `next` in TakeWritten(), which
    // runs only after it acquired our last slot (Publish() below).
    b->next.store(fresh, std::memory_order_release);
  }

  // Writes the value into a claimed slot; wakes the receiver parked on it.
  static void Publish(Slot& slot, T& value) {
    new (slot.storage) T(std::move(value));
    // acq_rel: release the value (pairs with the acquire loads in
    // RecvReady() and TakeWritten()); acquire a parked receiver's
    // registration (pairs with the release CAS in RecvOrWait()).
    const uintptr_t prev =
        slot.state.exchange(kWritten, std::memory_order_acq_rel);
    if (prev > kEnd) WakeParked(prev);
  }

  static void WakeParked(uintptr_t task_bits) {
    TaskHeader* const task = reinterpret_cast<TaskHeader*>(task_bits);
    task->Wake();
    task->Unref();
  }

  // Closes tail_ once. The slot at the closing position can never be
  // claimed: it gets the end mark, which wakes a receiver parked on it.
  void Finish() {
    // acq_rel: release the close (pairs with the acquire loads of tail_ in
    // IsClosed(), Ended(), Send()); acquire the last Install(), for below.
    const uint64_t old = tail_.fetch_or(kClosed, std::memory_order_acq_rel);
    if (old & kClosed) return;
    const uint64_t position = old >> kShift;
    // On a block's end the linking sender moves tail_ on: the receiver
    // waits on an earlier slot, whose writer wakes it, and then sees the
    // closed tail_ at the first slot of the next block.
    if (Offset(position) == kBlockCap) return;
    // acquire: pairs with the release store in Install(); being closed, the
    // tail gets no later Install(), so this is `position`'s block.
    Block* const b = tail_block_.load(std::memory_order_acquire);
    // acq_rel: as in Publish(): release the end mark (pairs with RecvReady()
    // and Ended()); acquire a registration (pairs with RecvOrWait()).
    const uintptr_t prev = b->slots[Offset(position)].state.exchange(
        kEnd, std::memory_order_acq_rel);
    if (prev > kEnd) WakeParked(prev);
  }

  Slot& HeadSlot() { return head_block_->slots[Offset(head_)]; }

  // The receiver's side: no value can come any more. Only when the head
  // slot is not written.
  bool Ended() {
    // acquire (both): pairs with the release fetch_or and exchange in
    // Finish(): what the closing side did before is visible at the end.
    const uint64_t t = tail_.load(std::memory_order_acquire);
    return HeadSlot().state.load(std::memory_order_acquire) == kEnd ||
           ((t & kClosed) && (t >> kShift) == head_);
  }

  // A receiving task is parked or woken and not yet resumed: another task
  // receiving now would take its value.
  void RejectSecondReceiver() {
    // relaxed: best effort against misuse; a correct program never races
    // on it.
    if (receiver_parked_.load(std::memory_order_relaxed)) {
      throw std::logic_error("tidepool: two tasks receive from one channel");
    }
  }

  // The value at the head. If its sender has claimed the slot but not yet
  // written it, waits for the write. nullopt when nothing is claimed, or at
  // the end.
  std::optional<T> TakeClaimed() {
    for (int waits = 0;; ++waits) {
      if (std::optional<T> v = TakeWritten()) return v;
      // acquire: pairs with the claim CAS in Send(); positions below tail_'s
      // are claimed (the head is never a block's unused last position), so
      // the head slot's write is coming. The slot's own acquire reads it.
      const uint64_t t = tail_.load(std::memory_order_acquire);
      if ((t >> kShift) == head_ || Ended()) return std::nullopt;
      Backoff(waits);
    }
  }

  // The value at the head, if written.
  std::optional<T> TakeWritten() {
    Slot& slot = HeadSlot();
    // acquire: pairs with the release exchange in Publish(): the value.
    if (slot.state.load(std::memory_order_acquire) != kWritten) {
      return std::nullopt;
    }
    std::optional<T> v(std::move(*slot.value()));
    slot.value()->~T();
    if (Offset(++head_) == kBlockCap) {
      // Every slot of the block was written and read: no sender touches it
      // again. The last slot's sender linked `next` before writing it.
      Block* const done = head_block_;
      // acquire: pairs with the release store of `next` in Install().
      head_block_ = done->next.load(std::memory_order_acquire);
      ++head_;
      Reset(done);
      Recycle(done);
    }
    return v;
  }

  static void Reset(Block* b) {
    // relaxed: published by Recycle()'s release exchange, which NewBlock()'s
    // acquire pairs with.
    for (Slot& s : b->slots) s.state.store(kEmpty, std::memory_order_relaxed);
    b->next.store(nullptr, std::memory_order_relaxed);
  }

  // The receiver's position and block, touched only by the receiving side
  // (one task at a time, handed over with the Receiver).
  uint64_t head_ = 0;
  Block* head_block_;
  std::atomic<bool> receiver_parked_{false};

  // Senders' side, on its own cache line away from the receiver's.
  alignas(64) std::atomic<uint64_t> tail_{0};
  std::atomic<Block*> tail_block_;
  std::atomic<Block*> spare_{nullptr};
  std::atomic<size_t> senders_{1};
};

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_SYNC_INTERNAL_UNBOUNDED_CHAN_H_
