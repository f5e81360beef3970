// The HTTP frontend of issue 7 (server.h) as a program.
//
//   bazel run //examples/frontend -- --listen=127.0.0.1:8080
//   TIDEPOOL_ALLOCATOR=jemalloc TIDEPOOL_IO=epoll
//   bazel-bin/examples/frontend/frontend
//
// Runtime settings come from the TIDEPOOL_* environment (Builder::from_env);
// the flags below override them. Prints "listening on <address>" once
// bound, which the benchmark drivers wait for.
#include <cstdio>
#include <cstdlib>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
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
ABSL_FLAG(int, write_timeout_ms, 30000,
          "Abandon a response the client does not take within this long.");
ABSL_FLAG(int64_t, max_body_bytes, 8 << 20, "Larger request bodies get 413.");

namespace {

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "frontend: %s\n", s.ToString().c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("HTTP/1.1 frontend on tidepool (issue 7).");
  absl::ParseCommandLine(argc, argv);
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
  auto rt = builder->thread_name("frontend").build();
  if (!rt.ok()) return Fail(rt.status());

  tidepool::frontend::ServerOptions options;
  options.read_timeout =
      std::chrono::milliseconds(absl::GetFlag(FLAGS_read_timeout_ms));
  options.write_timeout =
      std::chrono::milliseconds(absl::GetFlag(FLAGS_write_timeout_ms));
  options.limits.max_body_bytes = absl::GetFlag(FLAGS_max_body_bytes);
  options.runtime_metrics = [&rt] { return rt->metrics(); };
  tidepool::frontend::Server server(options);

  auto serve = [&]() -> tidepool::Task<absl::Status> {
    auto listener = tidepool::TcpListener::bind(*addr);
    if (!listener.ok()) co_return listener.status();
    auto bound = listener->local_address();
    std::printf("listening on %s\n", bound->ToString().c_str());
    std::fflush(stdout);
    co_return co_await server.Run(*std::move(listener));
  };
  absl::Status s = rt->block_on(serve());
  if (!s.ok()) return Fail(s);
  return 0;
}
