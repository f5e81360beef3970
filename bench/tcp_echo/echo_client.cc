// The echo benchmark's client (issue 7), on tidepool: --connections
// connections each do ping-pong round trips of one --message_bytes message
// (write it, read it back whole, check it) for --seconds, after
// --warmup_ms of the same not counted. Prints one line:
//
//   result connections=C message_bytes=M seconds=S round_trips=N
//       rtt_p50_us=A rtt_p99_us=B rps=X errors=E
//
// (one line), rps being round trips per second over all connections. Any
// error (connect, I/O, end of stream, a wrong echo) ends that connection
// and is counted; the exit status is then 1. bench/tcp_echo/compare.sh runs
// it against echo_server and bench/peers/tokio_echo.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "bench/percentile.h"
#include "runtime/runtime.h"

ABSL_FLAG(std::string, target, "127.0.0.1:7000",
          "The echo server, numeric ip:port.");
ABSL_FLAG(uint64_t, connections, 1, "Connections, each one ping-pong loop.");
ABSL_FLAG(uint64_t, message_bytes, 64, "Bytes per message.");
ABSL_FLAG(double, seconds, 3, "Measured duration.");
ABSL_FLAG(uint64_t, warmup_ms, 300,
          "Round trips before the measurement starts, not counted.");
ABSL_FLAG(uint64_t, workers, 2, "tidepool worker threads of the client.");

namespace {

using Clock = std::chrono::steady_clock;

struct PingResult {
  std::vector<int64_t> rtt_ns;  // measured round trips only
  std::string error;            // empty: none
};

tidepool::Task<PingResult> PingPong(tidepool::TcpStream stream,
                                    const std::string* message,
                                    Clock::time_point measure_from,
                                    Clock::time_point deadline) {
  PingResult r;
  std::string echo(message->size(), '\0');
  while (true) {
    const Clock::time_point start = Clock::now();
    if (start >= deadline) break;
    absl::Status w = co_await stream.write_all(*message);
    if (!w.ok()) {
      r.error = w.ToString();
      break;
    }
    size_t got = 0;
    while (got < echo.size()) {
      absl::StatusOr<size_t> n = co_await stream.read(
          std::span<char>(echo.data() + got, echo.size() - got));
      if (!n.ok()) {
        r.error = n.status().ToString();
        break;
      }
      if (*n == 0) {
        r.error = "end of stream in the middle of an echo";
        break;
      }
      got += *n;
    }
    if (!r.error.empty()) break;
    const Clock::time_point end = Clock::now();
    if (echo != *message) {
      r.error = "the echo differs from the message";
      break;
    }
    if (start >= measure_from) r.rtt_ns.push_back((end - start).count());
  }
  co_return r;
}

struct RunResult {
  std::vector<int64_t> rtt_ns;
  uint64_t errors = 0;
  std::string first_error;
};

tidepool::Task<RunResult> Run(tidepool::SocketAddress target,
                              uint64_t connections, const std::string* message,
                              std::chrono::nanoseconds warmup,
                              std::chrono::nanoseconds measured) {
  RunResult out;
  // Every connection is open before any round trip, so the measurement does
  // not include connection setup.
  std::vector<tidepool::TcpStream> streams;
  for (uint64_t i = 0; i < connections; ++i) {
    absl::StatusOr<tidepool::TcpStream> s =
        co_await tidepool::TcpStream::connect(target);
    if (!s.ok()) {
      ++out.errors;
      out.first_error = s.status().ToString();
      co_return out;
    }
    if (absl::Status st = s->set_nodelay(true); !st.ok()) {
      ++out.errors;
      out.first_error = st.ToString();
      co_return out;
    }
    streams.push_back(*std::move(s));
  }
  const Clock::time_point measure_from = Clock::now() + warmup;
  const Clock::time_point deadline = measure_from + measured;
  std::vector<tidepool::JoinHandle<PingResult>> tasks;
  for (tidepool::TcpStream& s : streams) {
    tasks.push_back(tidepool::spawn(
        PingPong(std::move(s), message, measure_from, deadline)));
  }
  for (auto& h : tasks) {
    PingResult r = co_await h;
    out.rtt_ns.insert(out.rtt_ns.end(), r.rtt_ns.begin(), r.rtt_ns.end());
    if (!r.error.empty() && out.errors++ == 0) out.first_error = r.error;
  }
  co_return out;
}

double PercentileUs(const std::vector<int64_t>& sorted_ns, double p) {
  return tidepool::bench::NearestRank(sorted_ns, p) / 1e3;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "TCP echo ping-pong client on tidepool; prints 'result connections=.. "
      "round_trips=.. rtt_p50_us=.. rtt_p99_us=.. rps=..'.");
  absl::ParseCommandLine(argc, argv);
  const uint64_t connections = absl::GetFlag(FLAGS_connections);
  const uint64_t message_bytes = absl::GetFlag(FLAGS_message_bytes);
  const double seconds = absl::GetFlag(FLAGS_seconds);
  const uint64_t workers = absl::GetFlag(FLAGS_workers);
  if (connections == 0 || message_bytes == 0 || workers == 0 ||
      !(seconds > 0)) {
    std::fprintf(stderr,
                 "echo_client: --connections, --message_bytes and --workers "
                 "must be at least 1, --seconds more than 0\n");
    return 2;
  }
  absl::StatusOr<tidepool::SocketAddress> target =
      tidepool::SocketAddress::Parse(absl::GetFlag(FLAGS_target));
  if (!target.ok()) {
    std::fprintf(stderr, "echo_client: %s\n",
                 target.status().ToString().c_str());
    return 2;
  }
  absl::StatusOr<tidepool::Builder> builder = tidepool::Builder::from_env();
  if (!builder.ok()) {
    std::fprintf(stderr, "echo_client: %s\n",
                 builder.status().ToString().c_str());
    return 2;
  }
  builder->worker_threads(workers);
  absl::StatusOr<tidepool::Runtime> rt = builder->build();
  if (!rt.ok()) {
    std::fprintf(stderr, "echo_client: %s\n", rt.status().ToString().c_str());
    return 2;
  }
  // Varied bytes, so that a server that mixed up or dropped bytes is caught.
  std::string message(message_bytes, '\0');
  for (size_t i = 0; i < message.size(); ++i) {
    message[i] = static_cast<char>('!' + (i * 31 + 7) % 90);
  }
  const auto measured = std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::duration<double>(seconds));
  RunResult r = rt->block_on(
      Run(*target, connections, &message,
          std::chrono::milliseconds(absl::GetFlag(FLAGS_warmup_ms)), measured));
  std::sort(r.rtt_ns.begin(), r.rtt_ns.end());
  std::printf(
      "result connections=%llu message_bytes=%llu seconds=%g round_trips=%zu "
      "rtt_p50_us=%.1f rtt_p99_us=%.1f rps=%.0f errors=%llu\n",
      static_cast<unsigned long long>(connections),
      static_cast<unsigned long long>(message_bytes), seconds, r.rtt_ns.size(),
      PercentileUs(r.rtt_ns, 50), PercentileUs(r.rtt_ns, 99),
      r.rtt_ns.size() / seconds, static_cast<unsigned long long>(r.errors));
  if (r.errors > 0) {
    std::fprintf(stderr, "echo_client: %llu connection(s) failed, first: %s\n",
                 static_cast<unsigned long long>(r.errors),
                 r.first_error.c_str());
    return 1;
  }
  return 0;
}
