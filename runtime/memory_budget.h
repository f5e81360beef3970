#ifndef TIDEPOOL_RUNTIME_MEMORY_BUDGET_H_
#define TIDEPOOL_RUNTIME_MEMORY_BUDGET_H_

// The memory budget (Builder::memory_budget) as text: the form
// TIDEPOOL_MEMORY_BUDGET and the `memory_budget` key of the TIDEPOOL_CONFIG
// file take, for programs that read the setting from their own flags too.
//
// A budget is a byte count: digits, then optionally B, or K, M, G (KiB,
// MiB, GiB: powers of 1024), e.g. "25165824", "24M", "24MiB". "0" means no
// budget. What the budget does and what it cannot bound is in
// docs/configuration.md ("The memory budget").
//
//   absl::StatusOr<size_t> b = tidepool::ParseMemoryBudget("24M");
//   if (b.ok()) builder.memory_budget(*b);  // 25165824
//
// Any thread; pure functions, no allocation beyond an error's message.

#include <cstddef>
#include <string_view>

#include "absl/status/statusor.h"

namespace tidepool {

// The largest budget accepted: 2^48 bytes (256 TiB); beyond it a value is
// a typo, not a machine.
inline constexpr size_t kMaxMemoryBudget = size_t{1} << 48;

// What the messages of ParseMemoryBudget and Builder::build() list as
// accepted.
inline constexpr const char kAcceptedMemoryBudgets[] =
    "0 (no budget) or a byte count up to 2^48, optionally followed by B, K, "
    "M or G (KiB, MiB, GiB: powers of 1024), such as 24M";

// Parses `text` as above. Anything else, or a value above
// kMaxMemoryBudget, is InvalidArgument naming `setting` and the accepted
// values.
absl::StatusOr<size_t> ParseMemoryBudget(
    std::string_view text, std::string_view setting = "memory_budget");

}  // namespace tidepool

#endif  // TIDEPOOL_RUNTIME_MEMORY_BUDGET_H_
