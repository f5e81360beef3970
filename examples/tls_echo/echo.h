#ifndef TIDEPOOL_EXAMPLES_TLS_ECHO_ECHO_H_
#define TIDEPOOL_EXAMPLES_TLS_ECHO_ECHO_H_

// The TLS echo service: every line a client sends comes back to it.
//
//   absl::StatusOr<TlsListener> listener = TlsListener::bind(addr, *ctx);
//   co_await Serve(*listener, [](const absl::Status& s) {
//     if (!s.ok()) std::fprintf(stderr, "%s\n", s.ToString().c_str());
//   });
//
// A line is echoed once it is complete (up to and including its '\n'), so
// a client may write a whole line before it reads; the last line may lack
// the '\n'. At the client's close_notify the server sends its own and the
// connection ends.
//
// Who may call: inside tidepool tasks. Cost: per connection one task, a
// BufReader (8 KiB) and the line being echoed (at most max_line_bytes).

#include <cstddef>
#include <functional>

#include "absl/status/status.h"
#include "examples/tls_echo/tls_listener.h"
#include "examples/tls_echo/tls_stream.h"
#include "runtime/runtime.h"

namespace tidepool::tls_echo {

inline constexpr size_t kDefaultMaxLineBytes = 1 << 20;

// Serves one connection: the handshake, then the echo until the client's
// end of stream. A line longer than `max_line_bytes` ends it with
// ResourceExhausted; a TLS or socket error ends it with that error.
Task<absl::Status> EchoLines(TlsStream stream,
                             size_t max_line_bytes = kDefaultMaxLineBytes);

// Accepts connections for as long as the task runs (abort it to stop) and
// serves each in a task of its own with EchoLines. `on_end` (may be empty)
// gets how each connection ended, and each failed accept, on whichever
// worker it happens: it must be thread-safe. After a failed accept (say
// EMFILE) it waits 10 ms and accepts again.
Task<void> Serve(TlsListener& listener,
                 std::function<void(const absl::Status&)> on_end);

}  // namespace tidepool::tls_echo

#endif  // TIDEPOOL_EXAMPLES_TLS_ECHO_ECHO_H_
