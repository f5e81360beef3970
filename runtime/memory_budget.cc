#include "runtime/memory_budget.h"

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace tidepool {
namespace {

// The unit after the digits: its shift, or -1 for none of the accepted.
int UnitShift(std::string_view unit) {
  if (unit.empty() || unit == "B") return 0;
  if (unit == "K" || unit == "KiB") return 10;
  if (unit == "M" || unit == "MiB") return 20;
  if (unit == "G" || unit == "GiB") return 30;
  return -1;
}

}  // namespace

absl::StatusOr<size_t> ParseMemoryBudget(std::string_view text,
                                         std::string_view setting) {
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') {
    ++digits;
  }
  const int shift = UnitShift(text.substr(digits));
  // 2^48 has 15 digits; 15 never overflow 64 bits, and the range check
  // comes before the shift.
  bool ok = digits > 0 && digits <= 15 && shift >= 0;
  uint64_t value = 0;
  for (size_t i = 0; ok && i < digits; ++i)
    value = value * 10 + (text[i] - '0');
  ok = ok && value <= (kMaxMemoryBudget >> shift);
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        std::string(setting), "='", std::string(text),
        "' is not valid: accepted values are ", kAcceptedMemoryBudgets));
  }
  return static_cast<size_t>(value << shift);
}

}  // namespace tidepool
