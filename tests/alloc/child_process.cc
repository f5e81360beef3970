#include "tests/alloc/child_process.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

extern char** environ;

namespace tidepool::testing {

ChildResult RunChild(
    const std::string& mode,
    const std::vector<std::pair<std::string, std::string>>& env) {
  std::vector<std::string> vars;
  auto overridden = [&](const char* entry) {
    if (std::strncmp(entry, "TIDEPOOL_", 9) == 0) return true;
    for (const auto& [k, v] : env) {
      if (std::strncmp(entry, k.c_str(), k.size()) == 0 &&
          entry[k.size()] == '=') {
        return true;
      }
    }
    return false;
  };
  for (char** e = environ; *e != nullptr; ++e) {
    if (!overridden(*e)) vars.emplace_back(*e);
  }
  for (const auto& [k, v] : env) vars.push_back(k + "=" + v);
  vars.push_back("TIDEPOOL_TEST_CHILD=" + mode);
  std::vector<char*> envp;
  for (auto& v : vars) envp.push_back(v.data());
  envp.push_back(nullptr);

  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return {};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDERR_FILENO);
  posix_spawn_file_actions_addclose(&actions, pipe_fds[0]);
  char exe[] = "/proc/self/exe";
  char* argv[] = {exe, nullptr};
  pid_t pid;
  const int rc = posix_spawn(&pid, exe, &actions, nullptr, argv, envp.data());
  posix_spawn_file_actions_destroy(&actions);
  close(pipe_fds[1]);
  ChildResult result;
  if (rc != 0) {
    close(pipe_fds[0]);
    result.output = std::string("posix_spawn failed: ") + std::strerror(rc);
    return result;
  }
  char buf[4096];
  ssize_t n;
  while ((n = read(pipe_fds[0], buf, sizeof buf)) > 0)
    result.output.append(buf, n);
  close(pipe_fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

void MaybeRunChild(int (*dispatch)(const std::string& mode)) {
  const char* mode = std::getenv("TIDEPOOL_TEST_CHILD");
  if (mode == nullptr) return;
  std::exit(dispatch(mode));
}

}  // namespace tidepool::testing
