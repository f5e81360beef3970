#include "runtime/task_info.h"

#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace tidepool {

std::string_view TaskStateName(TaskInfo::State state) {
  switch (state) {
    case TaskInfo::State::kScheduled:
      return "scheduled";
    case TaskInfo::State::kRunning:
      return "running";
    case TaskInfo::State::kWaiting:
      return "waiting";
  }
  return "unknown";
}

std::string FormatTaskDump(const std::vector<TaskInfo>& tasks) {
  std::string out = absl::StrCat("tasks: ", tasks.size(), "\n");
  for (const TaskInfo& t : tasks) {
    absl::StrAppend(&out, "task ", t.id, " \"", absl::CEscape(t.name), "\" ");
    out.append(TaskStateName(t.state));
    if (!t.location.empty()) absl::StrAppend(&out, " at ", t.location);
    out += '\n';
  }
  return out;
}

}  // namespace tidepool
