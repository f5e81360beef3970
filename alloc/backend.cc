#include "alloc/backend.h"

namespace tidepool::alloc {

bool ParseBackendSpec(std::string_view text, BackendSpec* out) {
  if (text == "glibc") {
    *out = {Backend::kGlibc, 0};
    return true;
  }
  if (text == "jemalloc") {
    *out = {Backend::kJemalloc, 0};
    return true;
  }
  if (text == "mimalloc") {
    *out = {Backend::kMimalloc, 0};
    return true;
  }
  constexpr std::string_view kCapped = "glibc:arena_max=";
  if (text.substr(0, kCapped.size()) != kCapped) return false;
  std::string_view digits = text.substr(kCapped.size());
  if (digits.empty() || digits.size() > 4) return false;
  int n = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + (c - '0');
  }
  if (n < 1 || n > kMaxArenaMax) return false;
  *out = {Backend::kGlibc, n};
  return true;
}

const char* BackendName(Backend kind) {
  switch (kind) {
    case Backend::kGlibc:
      return "glibc";
    case Backend::kJemalloc:
      return "jemalloc";
    case Backend::kMimalloc:
      return "mimalloc";
    case Backend::kUnknown:
      break;
  }
  return "unknown";
}

}  // namespace tidepool::alloc
