#ifndef TIDEPOOL_RUNTIME_INTERNAL_TIMER_WHEEL_H_
#define TIDEPOOL_RUNTIME_INTERNAL_TIMER_WHEEL_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <optional>

namespace tidepool::internal {

class TaskHeader;

// One pending timer. Lives wherever its owner puts it (in a coroutine frame
// for sleep(), in an I/O awaitable for a deadline); the wheel links it
// intrusively, so inserting and cancelling allocate nothing.
//
// When due, a timer either wakes `waker` (holding a reference), or, when
// `action` is set, calls action(context) on the thread that fires it,
// outside the driver's lock. An entry with an action may be destroyed only
// after TimerDriver::CancelOrWait, which waits out an action in progress.
struct TimerEntry {
  uint64_t deadline_ms = 0;  // on the driver's clock
  TaskHeader* waker = nullptr;
  void (*action)(void* context) = nullptr;
  void* context = nullptr;
  // Set under the driver's lock when the entry is taken out to fire its
  // action; cleared (release) once the action has returned, which
  // CancelOrWait's acquire load pairs with.
  std::atomic<bool> action_running{false};
  TimerEntry* prev = nullptr;
  TimerEntry* next = nullptr;
  int8_t level = -1;  // -1: not in the wheel; kLevels: overflow list
  uint8_t slot = 0;
};

// A hierarchical timing wheel with millisecond ticks: 6 levels of 64 slots
// cover 64^6 ms (about 2.2 years); later deadlines wait in an overflow list
// and are re-filed as time approaches. An entry sits at the lowest level
// whose slot span separates its deadline from the current time, so the
// first occupied slot of the lowest non-empty level is always the earliest.
//
// Insert and Remove are O(1). Advance costs O(entries fired or moved down a
// level) plus O(levels) per occupied slot visited. Not thread-safe: the
// TimerDriver guards it with a mutex.
class TimerWheel {
 public:
  static constexpr int kLevels = 6;
  static constexpr int kSlots = 64;

  uint64_t elapsed() const { return elapsed_; }

  // Files `e` by its deadline. A deadline not after elapsed() goes to the
  // current slot and fires at the next Advance.
  void Insert(TimerEntry* e);
  // Unfiles `e` if filed.
  void Remove(TimerEntry* e);

  // The time of the earliest occupied slot: exact for level 0, a lower
  // bound (the slot's start) for higher levels. nullopt when empty.
  std::optional<uint64_t> NextExpiration() const;

  // Moves time forward to `now`, calling fire(e) for every entry whose
  // deadline is at most `now` (each already unfiled). `fire` must not touch
  // the wheel.
  template <typename Fire>
  void Advance(uint64_t now, Fire&& fire) {
    while (true) {
      const std::optional<Position> next = NextPosition();
      if (!next || next->time > now) break;
      if (next->time > elapsed_) elapsed_ = next->time;
      TimerEntry* list = TakeSlot(next->level, next->slot);
      while (list != nullptr) {
        TimerEntry* e = list;
        list = e->next;
        e->prev = e->next = nullptr;
        e->level = -1;
        if (e->deadline_ms <= elapsed_) {
          fire(e);
        } else {
          Insert(e);  // cascades to a lower level
        }
      }
    }
    if (now > elapsed_) elapsed_ = now;
  }

  bool empty() const;

 private:
  struct Position {
    int level;
    int slot;
    uint64_t time;
  };
  std::optional<Position> NextPosition() const;
  static void Push(TimerEntry*& head, TimerEntry* e);
  TimerEntry* TakeSlot(int level, int slot);

  uint64_t elapsed_ = 0;
  std::array<std::array<TimerEntry*, kSlots>, kLevels> slots_{};
  std::array<uint64_t, kLevels> occupied_{};  // bit s: slot s non-empty
  // Entries beyond the current top-level block; level == kLevels.
  TimerEntry* overflow_ = nullptr;
};

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_INTERNAL_TIMER_WHEEL_H_
