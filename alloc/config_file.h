#ifndef TIDEPOOL_ALLOC_CONFIG_FILE_H_
#define TIDEPOOL_ALLOC_CONFIG_FILE_H_

// Settings from the environment or from the file named by TIDEPOOL_CONFIG.
//
// The file holds one `key=value` per line; `#` starts a comment; blank lines
// are ignored. Keys: allocator, worker_threads, max_blocking_threads,
// blocking_parallelism, thread_keep_alive_ms, slow_poll_threshold_ms, io,
// memory_budget (each the
// environment variable TIDEPOOL_<KEY> in lower case). The environment wins
// over the file.
//
// The file is read once, on first use, with raw system calls into static
// storage: this runs inside the process's first malloc when
// //alloc:malloc_override is linked, so it must not allocate. Any thread may
// call these functions.
//
//   # /etc/myserver/tidepool.conf
//   allocator=jemalloc
//   max_blocking_threads=64

#include <cstddef>

namespace tidepool::alloc {

// The value of setting `env_name` (e.g. "TIDEPOOL_ALLOCATOR"), or nullptr
// when neither the environment nor the file sets it. The returned string
// lives as long as the process (or the environment entry).
const char* LookupSetting(const char* env_name);

// True when TIDEPOOL_CONFIG names a file that could not be read or has a
// malformed line; `message` then gets one line such as
// "TIDEPOOL_CONFIG=/etc/x.conf:3: expected key=value" (NUL-terminated,
// truncated to `size`).
bool ConfigFileError(char* message, size_t size);

}  // namespace tidepool::alloc

#endif  // TIDEPOOL_ALLOC_CONFIG_FILE_H_
