// The HTTP frontend of issue 7 (server.h) as a program.
//
//   bazel run //examples/frontend -- --listen=127.0.0.1:8080
//   TIDEPOOL_ALLOCATOR=jemalloc TIDEPOOL_IO=epoll
//   bazel-bin/examples/frontend/frontend
//
// Runtime settings come from the TIDEPOOL_* environment (Builder::from_env);
// the flags below override them. Prints "listening on <address>" once
// bound, which the benchmark drivers wait for.
//
// Shutdown: SIGTERM or SIGINT starts a graceful drain (server.h: no new
// connections, requests in flight finished, idle connections closed) and
// the program exits 0 when it is over. A second SIGTERM or SIGINT, or
// --grace_period passing first, ends it at once with exit status 1.
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "examples/frontend/server.h"
#include "runtime/runtime.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:8080",
          "Address to listen on, a.b.c.d:port or [v6]:port; port 0 picks one.");
ABSL_FLAG(int, workers, 0,
          "Worker threads; 0 keeps TIDEPOOL_WORKER_THREADS "
          "or one per CPU.");
ABSL_FLAG(int, max_blocking_threads, 0,
          "Cap on blocking threads; 0 keeps TIDEPOOL_MAX_BLOCKING_THREADS or "
          "512.");
ABSL_FLAG(int, keep_alive_ms, 0,
          "Blocking thread keep-alive; 0 keeps TIDEPOOL_THREAD_KEEP_ALIVE_MS "
          "or 10000.");
ABSL_FLAG(int, read_timeout_ms, 30000,
          "Drop a connection idle (or stalled mid-request) this long.");
ABSL_FLAG(int, request_timeout_ms, 60000,
          "Answer 408 to a request whose head has not arrived this long "
          "after its first bytes, or whose body has not arrived this long "
          "after the head was accepted.");
ABSL_FLAG(int, write_timeout_ms, 30000,
          "Abandon a response the client does not take within this long.");
ABSL_FLAG(int64_t, max_body_bytes, 8 << 20, "Larger request bodies get 413.");
ABSL_FLAG(absl::Duration, grace_period, absl::Seconds(30),
          "After SIGTERM or SIGINT, how long the drain may take before the "
          "program exits anyway (exit status 1).");

namespace {

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "frontend: %s\n", s.ToString().c_str());
  return 2;
}

// The next SIGTERM or SIGINT.
tidepool::Task<void> Stopping(tidepool::Signal& term, tidepool::Signal& intr) {
  (void)co_await tidepool::select(term.recv(), intr.recv());
}

tidepool::Task<void> Deadline(std::chrono::nanoseconds d) {
  co_await tidepool::sleep(d);
}

// First signal: drain. Then a second signal or the grace period ends the
// process at once; when the drain finishes first, main() returns and this
// task goes with the runtime.
tidepool::Task<void> Shutdown(tidepool::frontend::Server& server,
                              tidepool::Signal& term, tidepool::Signal& intr,
                              std::chrono::nanoseconds grace) {
  co_await Stopping(term, intr);
  std::fprintf(stderr, "frontend: draining (%zu connections open)\n",
               server.connections());
  server.Drain();
  const auto second =
      co_await tidepool::select(Stopping(term, intr), Deadline(grace));
  std::fprintf(stderr, "frontend: %s: exiting with %zu connections open\n",
               second.index() == 0 ? "second signal" : "grace period over",
               server.connections());
  std::fflush(stdout);
  std::fflush(stderr);
  std::_Exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("HTTP/1.1 frontend on tidepool (issue 7).");
  absl::ParseCommandLine(argc, argv);
  // Before any thread starts, so that every thread blocks them (signal.h).
  absl::StatusOr<tidepool::Signal> term = tidepool::Signal::listen(SIGTERM);
  if (!term.ok()) return Fail(term.status());
  absl::StatusOr<tidepool::Signal> intr = tidepool::Signal::listen(SIGINT);
  if (!intr.ok()) return Fail(intr.status());
  const absl::Duration grace = absl::GetFlag(FLAGS_grace_period);
  if (grace < absl::ZeroDuration()) {
    return Fail(
        absl::InvalidArgumentError("--grace_period must be zero or more"));
  }
  auto builder = tidepool::Builder::from_env();
  if (!builder.ok()) return Fail(builder.status());
  if (int n = absl::GetFlag(FLAGS_workers); n > 0) builder->worker_threads(n);
  if (int n = absl::GetFlag(FLAGS_max_blocking_threads); n > 0) {
    builder->max_blocking_threads(n);
  }
  if (int n = absl::GetFlag(FLAGS_keep_alive_ms); n > 0) {
    builder->thread_keep_alive(std::chrono::milliseconds(n));
  }
  auto addr = tidepool::SocketAddress::Parse(absl::GetFlag(FLAGS_listen));
  if (!addr.ok()) return Fail(addr.status());
  if (absl::GetFlag(FLAGS_max_body_bytes) < 0) {
    return Fail(
        absl::InvalidArgumentError("--max_body_bytes must be zero or more"));
  }
  for (const auto& [name, ms] :
       {std::pair{"--read_timeout_ms", absl::GetFlag(FLAGS_read_timeout_ms)},
        std::pair{"--request_timeout_ms",
                  absl::GetFlag(FLAGS_request_timeout_ms)},
        std::pair{"--write_timeout_ms",
                  absl::GetFlag(FLAGS_write_timeout_ms)}}) {
    if (ms <= 0) {
      return Fail(absl::InvalidArgumentError(
          absl::StrCat(name, " must be a positive number of milliseconds")));
    }
  }
  auto rt = builder->thread_name("frontend").build();
  if (!rt.ok()) return Fail(rt.status());

  tidepool::frontend::ServerOptions options;
  options.read_timeout =
      std::chrono::milliseconds(absl::GetFlag(FLAGS_read_timeout_ms));
  options.request_timeout =
      std::chrono::milliseconds(absl::GetFlag(FLAGS_request_timeout_ms));
  options.write_timeout =
      std::chrono::milliseconds(absl::GetFlag(FLAGS_write_timeout_ms));
  options.limits.max_body_bytes = absl::GetFlag(FLAGS_max_body_bytes);
  options.runtime = &*rt;
  tidepool::frontend::Server server(options);

  auto serve = [&]() -> tidepool::Task<absl::Status> {
    auto listener = tidepool::TcpListener::bind(*addr);
    if (!listener.ok()) co_return listener.status();
    auto bound = listener->local_address();
    tidepool::spawn(
        Shutdown(server, *term, *intr, absl::ToChronoNanoseconds(grace)))
        .detach();
    std::printf("listening on %s\n", bound->ToString().c_str());
    std::fflush(stdout);
    co_return co_await server.Run(*std::move(listener));
  };
  absl::Status s = rt->block_on(serve());
  if (!s.ok()) return Fail(s);
  return 0;
}
