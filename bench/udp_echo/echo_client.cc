// The UDP echo benchmark's client (issue 20), on tidepool: --sockets
// sockets, each connected to the server, each do ping-pong round trips of
// one --message_bytes datagram (PingPong, bench/udp_echo/ping_pong.h) for
// --seconds, after --warmup_ms of the same not counted. A datagram whose
// echo does not come within --loss_timeout_ms is counted lost and the
// socket goes on. Prints one line:
//
//   result sockets=C message_bytes=M seconds=S round_trips=N
//       rtt_p50_us=A rtt_p99_us=B rps=X lost=L late=K errors=E
//
// (one line), rps being round trips per second over all sockets, lost and
// late as in PingPongResult. An error (bind, a failed send or receive, a
// wrong echo) ends that socket and is counted; the exit status is then 1.
// bench/udp_echo/compare.sh runs it against echo_server and
// bench/peers/tokio_udp_echo.
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "bench/percentile.h"
#include "bench/udp_echo/ping_pong.h"
#include "runtime/runtime.h"

ABSL_FLAG(std::string, target, "127.0.0.1:7000",
          "The echo server, numeric ip:port.");
ABSL_FLAG(uint64_t, sockets, 1, "Client sockets, each one ping-pong loop.");
ABSL_FLAG(uint64_t, message_bytes, 64,
          "Bytes per datagram, at least 8 (the sequence number).");
ABSL_FLAG(double, seconds, 3, "Measured duration.");
ABSL_FLAG(uint64_t, warmup_ms, 300,
          "Round trips before the measurement starts, not counted.");
ABSL_FLAG(uint64_t, loss_timeout_ms, 100,
          "How long a round trip waits for its echo before counting the "
          "datagram lost.");
ABSL_FLAG(uint64_t, workers, 2, "tidepool worker threads of the client.");

namespace {

using Clock = std::chrono::steady_clock;

struct RunResult {
  std::vector<int64_t> rtt_ns;
  uint64_t lost = 0;
  uint64_t late = 0;
  uint64_t errors = 0;
  std::string first_error;
};

tidepool::Task<RunResult> Run(tidepool::SocketAddress target, uint64_t sockets,
                              tidepool::udp_echo::PingPongOptions options,
                              std::chrono::nanoseconds warmup,
                              std::chrono::nanoseconds measured) {
  RunResult out;
  // A wildcard port of the server's family: the kernel picks each socket's
  // own port.
  const tidepool::SocketAddress any = *tidepool::SocketAddress::Parse(
      target.family() == AF_INET6 ? "[::1]:0" : "127.0.0.1:0");
  std::vector<tidepool::UdpSocket> connected;
  for (uint64_t i = 0; i < sockets; ++i) {
    absl::StatusOr<tidepool::UdpSocket> s = tidepool::UdpSocket::bind(any);
    absl::Status st = s.ok() ? s->connect(target) : s.status();
    if (!st.ok()) {
      ++out.errors;
      out.first_error = st.ToString();
      co_return out;
    }
    connected.push_back(*std::move(s));
  }
  options.measure_from = Clock::now() + warmup;
  options.deadline = options.measure_from + measured;
  std::vector<tidepool::JoinHandle<tidepool::udp_echo::PingPongResult>> tasks;
  for (tidepool::UdpSocket& s : connected) {
    tasks.push_back(
        tidepool::spawn(tidepool::udp_echo::PingPong(std::move(s), options)));
  }
  for (auto& h : tasks) {
    tidepool::udp_echo::PingPongResult r = co_await h;
    out.rtt_ns.insert(out.rtt_ns.end(), r.rtt_ns.begin(), r.rtt_ns.end());
    out.lost += r.lost;
    out.late += r.late;
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
      "UDP echo ping-pong client on tidepool; prints 'result sockets=.. "
      "round_trips=.. rtt_p50_us=.. rtt_p99_us=.. rps=.. lost=..'.");
  absl::ParseCommandLine(argc, argv);
  const uint64_t sockets = absl::GetFlag(FLAGS_sockets);
  const uint64_t message_bytes = absl::GetFlag(FLAGS_message_bytes);
  const double seconds = absl::GetFlag(FLAGS_seconds);
  const uint64_t loss_timeout_ms = absl::GetFlag(FLAGS_loss_timeout_ms);
  const uint64_t workers = absl::GetFlag(FLAGS_workers);
  if (sockets == 0 || workers == 0 || loss_timeout_ms == 0 ||
      message_bytes < tidepool::udp_echo::kMinMessageBytes ||
      message_bytes > 65507 || !(seconds > 0)) {
    std::fprintf(stderr,
                 "echo_client: --sockets, --workers and --loss_timeout_ms "
                 "must be at least 1, --message_bytes 8 to 65507, --seconds "
                 "more than 0\n");
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
  tidepool::udp_echo::PingPongOptions options;
  options.message_bytes = message_bytes;
  options.loss_timeout = std::chrono::milliseconds(loss_timeout_ms);
  const auto measured = std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::duration<double>(seconds));
  RunResult r = rt->block_on(
      Run(*target, sockets, options,
          std::chrono::milliseconds(absl::GetFlag(FLAGS_warmup_ms)), measured));
  std::sort(r.rtt_ns.begin(), r.rtt_ns.end());
  std::printf(
      "result sockets=%llu message_bytes=%llu seconds=%g round_trips=%zu "
      "rtt_p50_us=%.1f rtt_p99_us=%.1f rps=%.0f lost=%llu late=%llu "
      "errors=%llu\n",
      static_cast<unsigned long long>(sockets),
      static_cast<unsigned long long>(message_bytes), seconds, r.rtt_ns.size(),
      PercentileUs(r.rtt_ns, 50), PercentileUs(r.rtt_ns, 99),
      r.rtt_ns.size() / seconds, static_cast<unsigned long long>(r.lost),
      static_cast<unsigned long long>(r.late),
      static_cast<unsigned long long>(r.errors));
  if (r.errors > 0) {
    std::fprintf(stderr, "echo_client: %llu socket(s) failed, first: %s\n",
                 static_cast<unsigned long long>(r.errors),
                 r.first_error.c_str());
    return 1;
  }
  return 0;
}
