#include "runtime/internal/timer_wheel.h"

#include <bit>
#include <utility>

namespace tidepool::internal {
namespace {

constexpr int kBits = 6;  // log2(kSlots)
constexpr uint64_t kMaxSpan = uint64_t{1} << (kBits * TimerWheel::kLevels);

}  // namespace

void TimerWheel::Insert(TimerEntry* e) {
  const uint64_t when = e->deadline_ms < elapsed_ ? elapsed_ : e->deadline_ms;
  // Beyond the current top-level block (2.2 years of ms): wait in the
  // overflow list, re-filed when time enters the next block.
  if (when > (elapsed_ | (kMaxSpan - 1))) {
    Push(overflow_, e);
    e->level = kLevels;
    e->slot = 0;
    return;
  }
  // The highest bit where `when` and now differ picks the level: below it
  // they agree, so the entry's slot at that level is still ahead of the
  // current one.
  const uint64_t differ = (elapsed_ ^ when) | (kSlots - 1);
  const int level = (63 - std::countl_zero(differ)) / kBits;
  const int slot = static_cast<int>((when >> (kBits * level)) & (kSlots - 1));
  Push(slots_[level][slot], e);
  e->level = static_cast<int8_t>(level);
  e->slot = static_cast<uint8_t>(slot);
  occupied_[level] |= uint64_t{1} << slot;
}

void TimerWheel::Push(TimerEntry*& head, TimerEntry* e) {
  e->prev = nullptr;
  e->next = head;
  if (head != nullptr) head->prev = e;
  head = e;
}

void TimerWheel::Remove(TimerEntry* e) {
  if (e->level < 0) return;
  TimerEntry*& head =
      e->level == kLevels ? overflow_ : slots_[e->level][e->slot];
  if (e->prev != nullptr) {
    e->prev->next = e->next;
  } else {
    head = e->next;
  }
  if (e->next != nullptr) e->next->prev = e->prev;
  if (head == nullptr && e->level < kLevels) {
    occupied_[e->level] &= ~(uint64_t{1} << e->slot);
  }
  e->prev = e->next = nullptr;
  e->level = -1;
}

std::optional<TimerWheel::Position> TimerWheel::NextPosition() const {
  for (int level = 0; level < kLevels; ++level) {
    if (occupied_[level] == 0) continue;
    const int shift = kBits * level;
    const int current = static_cast<int>((elapsed_ >> shift) & (kSlots - 1));
    // Entries are filed at or after the current slot of their level.
    const uint64_t ahead = occupied_[level] >> current;
    if (ahead == 0) continue;
    const int slot = current + std::countr_zero(ahead);
    const uint64_t level_span = uint64_t{1} << (shift + kBits);
    const uint64_t base = elapsed_ & ~(level_span - 1);
    return Position{level, slot,
                    base + (uint64_t{static_cast<unsigned>(slot)} << shift)};
  }
  // Everything in the wheel comes before the overflow, which is due for
  // re-filing when time enters the next top-level block.
  if (overflow_ != nullptr) {
    return Position{kLevels, 0, (elapsed_ | (kMaxSpan - 1)) + 1};
  }
  return std::nullopt;
}

std::optional<uint64_t> TimerWheel::NextExpiration() const {
  const std::optional<Position> p = NextPosition();
  if (!p) return std::nullopt;
  return p->time < elapsed_ ? elapsed_ : p->time;
}

TimerEntry* TimerWheel::TakeSlot(int level, int slot) {
  if (level == kLevels) return std::exchange(overflow_, nullptr);
  TimerEntry* list = slots_[level][slot];
  slots_[level][slot] = nullptr;
  occupied_[level] &= ~(uint64_t{1} << slot);
  return list;
}

bool TimerWheel::empty() const {
  if (overflow_ != nullptr) return false;
  for (uint64_t bits : occupied_) {
    if (bits != 0) return false;
  }
  return true;
}

}  // namespace tidepool::internal
