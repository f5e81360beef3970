#include "runtime/internal/runtime_config.h"

#include <pthread.h>

#include "absl/strings/str_cat.h"

namespace tidepool::internal {

void NameThisThread(const std::string& prefix, char kind, size_t index) {
  // The prefix gives way first, so that threads stay distinguishable.
  const std::string suffix = absl::StrCat("-", std::string(1, kind), index);
  const size_t room = suffix.size() < 15 ? 15 - suffix.size() : 0;
  const std::string name = prefix.substr(0, room) + suffix;
  pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
}

}  // namespace tidepool::internal
