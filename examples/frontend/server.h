#ifndef TIDEPOOL_EXAMPLES_FRONTEND_SERVER_H_
#define TIDEPOOL_EXAMPLES_FRONTEND_SERVER_H_

// The HTTP/1.1 frontend of issue 7, as a library so that tests can run it
// in-process; examples/frontend/main.cc wraps it in a binary.
//
// Routes: POST /v1/generate (generate.h: the body is parsed and tokenized
// in spawn_blocking, the output streamed back as a chunked response),
// GET /healthz, GET /metrics (Prometheus text: the process's resident set,
// the library's runtime and allocator families of runtime/prometheus.h,
// and the frontend's own counters), GET /debug/tasks (when `runtime` is
// set: every live task of the runtime, one line each, as
// Runtime::dump_text() writes them, runtime/task_info.h; a connection task
// waiting for its client shows the co_await it waits at). Keep-alive and
// pipelining per RFC
// 9112; bad requests get 400/413/431/501/505 and the connection is closed
// gracefully (FIN, then the client's remaining input is drained for up to
// `linger`, so that the error response is not lost to a reset).
//
// Robustness: an idle or slow client is dropped after `read_timeout` (408
// if it was in the middle of a request); a request's head must arrive
// within `request_timeout` of its first bytes and its body within
// `request_timeout` of the budget permit the server takes after the head
// (408 otherwise), so a client that trickles its request cannot hold a
// permit for longer than that; a response not taken by the
// client within `write_timeout` is abandoned; a client that disconnects
// costs its task and nothing else; when accept() runs out of descriptors
// (EMFILE/ENFILE) the server waits `accept_backoff` and goes on serving
// the connections it has.
//
// Graceful drain (Drain(), which main.cc calls on SIGTERM or SIGINT): the
// listening socket is shut at once, so new connections are refused;
// connections idle between requests are closed; a request already received,
// or partly received (its first bytes arrived before the drain), is
// answered with "Connection: close" and its connection then closed; Run()
// returns once every connection has ended. A request that a client sends on
// an idle keep-alive connection just as the drain closes it is lost, as with
// any server that closes idle connections (clients retry such requests).
//
//   tidepool::frontend::Server server(options);
//   auto listener = tidepool::TcpListener::bind(addr);   // in a task
//   co_await server.Run(*std::move(listener));            // until Drain()

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "examples/frontend/http/request_parser.h"
#include "runtime/runtime.h"

namespace tidepool::frontend {

struct ServerOptions {
  http::ParserLimits limits;
  std::chrono::milliseconds read_timeout{30'000};
  std::chrono::milliseconds request_timeout{60'000};
  std::chrono::milliseconds write_timeout{30'000};
  std::chrono::milliseconds linger{1'000};
  std::chrono::milliseconds accept_backoff{10};
  // The runtime whose figures /metrics reports (PrometheusText, from
  // runtime/prometheus.h) and whose tasks /debug/tasks lists, which must
  // outlive the Server; null leaves the figures out and /debug/tasks
  // answers 404.
  const Runtime* runtime = nullptr;
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

  // Accepts and serves connections until Drain(); each connection is a
  // task of its own. Returns once drained and every connection has ended.
  // Inside a task of the runtime that serves; once per Server.
  Task<absl::Status> Run(TcpListener listener);
  // Any thread, any number of times. Starts the graceful drain described
  // above and returns at once; Run() tells when it is over.
  void Drain();

  // Connections open (being served), for tests and logs.
  size_t connections() const { return connections_.len(); }

  const ServerCounters& counters() const { return counters_; }
  // The /metrics page.
  std::string MetricsText() const;

 private:
  // A connection as Drain() sees it.
  struct Conn {
    int fd;
    // seq_cst, with draining_: a connection that goes idle either sees the
    // drain, or is seen idle by it (Drain() and the kNeedMore wait).
    std::atomic<bool> idle{false};
  };
  // Registers `conn` in conns_ for its lifetime.
  class ConnRegistration;

  Task<void> ServeConnection(TcpStream stream);
  // Answers the complete request `parser` holds (after kRequest; a
  // generate request's body is taken from it); false when the connection
  // must end (the client went away or stopped reading).
  Task<bool> Respond(TcpStream& s, http::RequestParser& parser);
  // A read timed out: counts it and, when a request was under way, answers
  // 408 and closes gracefully.
  Task<void> TimedOut(TcpStream& s, bool mid_request);

  const ServerOptions options_;
  ServerCounters counters_;
  std::atomic<bool> draining_{false};
  TaskTracker connections_;
  // Guards listen_fd_ and conns_, the descriptors Drain() shuts: one is
  // closed only after it has left them. A std::mutex, which ThreadSanitizer
  // sees (Debian's absl::Mutex is not instrumented).
  std::mutex mu_;
  int listen_fd_ = -1;
  absl::flat_hash_set<Conn*> conns_;
};

}  // namespace tidepool::frontend

#endif  // TIDEPOOL_EXAMPLES_FRONTEND_SERVER_H_
