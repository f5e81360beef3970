#ifndef TIDEPOOL_EXAMPLES_FRONTEND_SERVER_H_
#define TIDEPOOL_EXAMPLES_FRONTEND_SERVER_H_

// The HTTP/1.1 frontend of issue 7, as a library so that tests can run it
// in-process; examples/frontend/main.cc wraps it in a binary.
//
// Routes: POST /v1/generate (generate.h: the body is parsed and tokenized
// in spawn_blocking, the output streamed back as a chunked response),
// GET /healthz, GET /metrics (Prometheus text: runtime, allocator and
// frontend figures). Keep-alive and pipelining per RFC 9112; bad requests
// get 400/413/431/501/505 and the connection is closed gracefully (FIN,
// then the client's remaining input is drained for up to `linger`, so that
// the error response is not lost to a reset).
//
// Robustness: an idle or slow client is dropped after `read_timeout` (408
// if it was in the middle of a request); a response not taken by the
// client within `write_timeout` is abandoned; a client that disconnects
// costs its task and nothing else; when accept() runs out of descriptors
// (EMFILE/ENFILE) the server waits `accept_backoff` and goes on serving
// the connections it has.
//
//   tidepool::frontend::Server server(options);
//   auto listener = tidepool::TcpListener::bind(addr);   // in a task
//   co_await server.Run(*std::move(listener));            // until Stop()

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "examples/frontend/http/request_parser.h"
#include "runtime/runtime.h"

namespace tidepool::frontend {

struct ServerOptions {
  http::ParserLimits limits;
  std::chrono::milliseconds read_timeout{30'000};
  std::chrono::milliseconds write_timeout{30'000};
  std::chrono::milliseconds linger{1'000};
  std::chrono::milliseconds accept_backoff{10};
  // Where /metrics gets the runtime's figures (e.g. [&rt] { return
  // rt.metrics(); }); unset leaves them out.
  std::function<RuntimeMetrics()> runtime_metrics;
};

// Counters for /metrics. relaxed everywhere: independent statistics.
struct ServerCounters {
  std::atomic<int64_t> connections_open{0};
  std::atomic<uint64_t> connections_total{0};
  std::atomic<uint64_t> accept_errors{0};
  std::atomic<uint64_t> responses_2xx{0};
  std::atomic<uint64_t> responses_4xx{0};
  std::atomic<uint64_t> responses_5xx{0};
  std::atomic<uint64_t> timeouts{0};
};

// Must outlive the connection tasks it spawns (keep it alive until the
// Runtime is destroyed).
class Server {
 public:
  explicit Server(ServerOptions options = {}) : options_(std::move(options)) {}

  // Accepts and serves connections until Stop(); each connection is a task
  // of its own. Inside a task of the runtime that serves.
  Task<absl::Status> Run(TcpListener listener);
  // Any thread. Run() returns after its next accept (connections already
  // being served finish on their own).
  void Stop() { stopping_.store(true, std::memory_order_relaxed); }

  const ServerCounters& counters() const { return counters_; }
  // The /metrics page.
  std::string MetricsText() const;

 private:
  Task<void> ServeConnection(TcpStream stream);
  // Answers the complete request `parser` holds (after kRequest; a
  // generate request's body is taken from it); false when the connection
  // must end (the client went away or stopped reading).
  Task<bool> Respond(TcpStream& s, http::RequestParser& parser);

  const ServerOptions options_;
  ServerCounters counters_;
  // relaxed: a request to stop, checked between accepts.
  std::atomic<bool> stopping_{false};
};

}  // namespace tidepool::frontend

#endif  // TIDEPOOL_EXAMPLES_FRONTEND_SERVER_H_
