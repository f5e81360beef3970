#ifndef TIDEPOOL_TESTS_ALLOC_CHILD_PROCESS_H_
#define TIDEPOOL_TESTS_ALLOC_CHILD_PROCESS_H_

// Runs this test binary again in a child process with extra environment
// variables. The allocator of a process is fixed at its first malloc, so
// every backend needs a process of its own.

#include <string>
#include <utility>
#include <vector>

namespace tidepool::testing {

struct ChildResult {
  int exit_code = -1;  // -1 when killed by a signal
  std::string output;  // stdout and stderr together
};

// Runs /proc/self/exe with TIDEPOOL_TEST_CHILD=`mode` plus `env` added to
// (or replacing in) the current environment.
ChildResult RunChild(
    const std::string& mode,
    const std::vector<std::pair<std::string, std::string>>& env);

// In main(), before anything else: when TIDEPOOL_TEST_CHILD is set, runs
// the named mode through `dispatch` and exits with its result.
void MaybeRunChild(int (*dispatch)(const std::string& mode));

}  // namespace tidepool::testing

#endif  // TIDEPOOL_TESTS_ALLOC_CHILD_PROCESS_H_
