#ifndef TIDEPOOL_RUNTIME_INTERNAL_THREAD_STATE_H_
#define TIDEPOOL_RUNTIME_INTERNAL_THREAD_STATE_H_

#include <sys/types.h>

#include <cstddef>

namespace tidepool::internal {

// Whether the kernel reports thread `tid` of this process off the CPU by
// its own doing: asleep (a lock, a condition variable, a socket, a timer),
// waiting for disk I/O, or stopped; any state but R (running or runnable)
// in /proc/self/task/<tid>/stat. False when it runs, waits for a CPU, or
// its state cannot be read (no /proc, or the thread is gone), so a caller
// acts only on evidence. Any thread. Costs an open, a read and a close of
// a proc file, a few microseconds, and allocates nothing.
bool ThreadAsleep(pid_t tid);

// The state letter of a /proc/<pid>/task/<tid>/stat line ("tid (comm) S
// ..."; comm may hold spaces and parentheses, so the letter follows the
// last ')'), or '\0' when the line is malformed.
char StatStateLetter(const char* line, size_t len);

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_INTERNAL_THREAD_STATE_H_
