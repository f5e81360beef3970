// loadgen: a load generator for the frontend's POST /v1/generate (issue 7),
// on tidepool. C tasks each keep one connection alive and send requests back
// to back until N requests have been sent in total (with
// --connection_close, each request on a new connection); every response is
// parsed (status line, headers, chunked framing) and, with --verify, its body
// is compared with what examples/frontend's Generate() computes locally for the
// same request body. While it runs it samples the server's VmRSS from
// /proc/<pid>/status every 100 ms and reports progress once a second on
// stderr; at the end it prints one "result ..." line on stdout:
//
//   result requests=N concurrency=C payload_bytes=P seconds=S rps=X
//       p50_ms=A p99_ms=B errors=E rss_peak_kb=R rss_end_kb=F hwm_kb=H
//
// (one line). rps counts successful requests; latencies are those of
// successful requests, from just before the request's first byte is written
// to the arrival of the response's last byte. A failed request (connect,
// write or read error, end of stream, bad framing, status other than 200,
// wrong body, timeout) counts in errors, its connection is closed and the
// next request opens a new one; after a second of failed connects in a row
// the server is taken to be gone and the requests not yet sent count as
// errors too. Exit status: 0 when every request
// succeeded, 1 when any failed, 2 for bad flags.
#include <fcntl.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "examples/frontend/generate.h"
#include "examples/loadgen/payload.h"
#include "examples/loadgen/response_parser.h"
#include "runtime/runtime.h"

ABSL_FLAG(std::string, target, "127.0.0.1:8080",
          "The frontend, host:port. A numeric address, or a name resolved "
          "once at start.");
ABSL_FLAG(uint64_t, requests, 10000, "Requests to send in total.");
ABSL_FLAG(uint64_t, concurrency, 16,
          "Keep-alive connections, each a task sending its requests back to "
          "back.");
ABSL_FLAG(bool, connection_close, false,
          "Ask the server to close the connection after each response "
          "(Connection: close), so that every request opens a new one: "
          "measures accepting and closing connections as well.");
ABSL_FLAG(uint64_t, payload_bytes, 1024,
          "Size of each request's JSON body {\"prompt\": \"...\"} in bytes "
          "(at least 14).");
ABSL_FLAG(int64_t, server_pid, 0,
          "The server's pid, for VmRSS/VmHWM from /proc/<pid>/status; 0 "
          "reports them as 0.");
ABSL_FLAG(uint64_t, workers, 2, "tidepool worker threads of the client.");
ABSL_FLAG(bool, verify, true,
          "Compare every response body with Generate() of the request body "
          "(computed once per distinct body). Framing and status are always "
          "checked.");
ABSL_FLAG(uint64_t, request_timeout_ms, 30000,
          "A request not answered in full by then fails (and its connection "
          "is closed); 0 waits forever.");

namespace tidepool::loadgen {
namespace {

using Clock = std::chrono::steady_clock;

// Requests cycle through this many different bodies of the same size, so a
// server that answered with another request's output would be caught, while
// the expected outputs are still computed only once.
constexpr uint64_t kDistinctBodies = 8;
constexpr size_t kReadBufferBytes = 64 * 1024;
constexpr auto kSamplePeriod = std::chrono::milliseconds(100);
constexpr int kSamplesPerProgressLine = 10;
// After a failed connect, so that a server that refuses connections is not
// hammered by C tasks in a tight loop.
constexpr auto kConnectBackoff = std::chrono::milliseconds(10);
// Consecutive failed connects (about a second of them) after which a
// connection task decides the server is gone; the requests nobody sent then
// count as errors ("not sent") instead of taking minutes to fail one by one.
constexpr int kMaxConnectFailures = 100;

enum ErrorKind {
  kConnect,
  kWrite,
  kRead,
  kClosed,
  kFraming,
  kStatus,
  kBody,
  kTimeout,
  kNotSent,
  kErrorKinds,
};
constexpr std::array<absl::string_view, kErrorKinds> kErrorNames = {
    "connect", "write", "read",    "closed",  "framing",
    "status",  "body",  "timeout", "not sent"};

struct Request {
  std::string wire;      // the whole HTTP request
  std::string expected;  // Generate() of its body
};

// What all connection tasks share. The counters are claimed and bumped with
// relaxed atomics: `next` only has to hand out each request number once,
// `done`/`errors` only feed the progress line, and `gave_up` only stops
// further claims; the results themselves travel back through the tasks'
// JoinHandles, which synchronize.
struct Load {
  const std::vector<Request>* requests = nullptr;
  std::optional<SocketAddress> target;
  uint64_t total = 0;
  bool verify = true;
  std::chrono::milliseconds timeout{0};
  std::atomic<uint64_t> next{0};
  std::atomic<uint64_t> done{0};
  std::atomic<uint64_t> errors{0};
  std::atomic<bool> gave_up{false};
};

struct ConnectionResult {
  uint64_t claimed = 0;
  std::vector<int64_t> latency_ns;
  std::array<uint64_t, kErrorKinds> errors{};
  std::array<std::string, kErrorKinds> first_error;
  uint64_t connects = 0;
};

struct Outcome {
  std::optional<ErrorKind> error;
  std::string message;
  bool keep_alive = false;
};

// One keep-alive connection and the bytes read from it but not yet parsed.
struct Connection {
  TcpStream stream;
  ResponseParser parser;
  std::unique_ptr<char[]> buffer = std::make_unique<char[]>(kReadBufferBytes);
  size_t begin = 0;
  size_t end = 0;
};

Outcome Failed(ErrorKind kind, std::string message) {
  return Outcome{kind, std::move(message), false};
}

// Sends one request and reads its response.
Task<Outcome> Exchange(Connection* c, const Request* req, bool verify) {
  absl::Status w = co_await c->stream.write_all(req->wire);
  if (!w.ok()) co_return Failed(kWrite, w.ToString());
  ResponseParser& parser = c->parser;
  parser.Reset(verify ? &req->expected : nullptr);
  bool eof = false;
  while (true) {
    if (c->begin < c->end) {
      c->begin += parser.Feed(
          absl::string_view(c->buffer.get() + c->begin, c->end - c->begin));
    }
    if (parser.done() || parser.failed()) break;
    absl::StatusOr<size_t> n = co_await c->stream.read(
        std::span<char>(c->buffer.get(), kReadBufferBytes));
    if (!n.ok()) co_return Failed(kRead, n.status().ToString());
    c->begin = 0;
    c->end = *n;
    if (*n == 0) {
      eof = true;
      parser.FinishAtEof();
      break;
    }
  }
  if (parser.failed()) {
    co_return Failed(eof ? kClosed : kFraming, std::string(parser.error()));
  }
  if (parser.status() != 200) {
    co_return Failed(kStatus, absl::StrCat("HTTP status ", parser.status()));
  }
  if (!parser.chunked()) {
    co_return Failed(kFraming, "a 200 response that is not chunked");
  }
  if (c->begin < c->end) {
    co_return Failed(kFraming, "bytes after the end of the response");
  }
  if (verify) {
    if (!parser.body_matches()) {
      co_return Failed(kBody,
                       absl::StrCat("body of ", parser.body_bytes(),
                                    " bytes differs from the expected ",
                                    req->expected.size(), " at byte ",
                                    parser.first_difference().value_or(0)));
    }
    if (parser.max_chunk_bytes() > frontend::kMaxChunkBytes) {
      co_return Failed(kFraming,
                       absl::StrCat("a chunk of ", parser.max_chunk_bytes(),
                                    " bytes, over ", frontend::kMaxChunkBytes));
    }
  }
  co_return Outcome{std::nullopt, "", parser.keep_alive()};
}

void Record(ConnectionResult& r, Load& load, ErrorKind kind,
            std::string message) {
  if (r.errors[kind]++ == 0) r.first_error[kind] = std::move(message);
  load.errors.fetch_add(1, std::memory_order_relaxed);
}

Task<ConnectionResult> RunConnection(Load* load) {
  ConnectionResult r;
  std::unique_ptr<Connection> c;
  const std::vector<Request>& requests = *load->requests;
  int connect_failures = 0;
  while (!load->gave_up.load(std::memory_order_relaxed)) {
    const uint64_t i = load->next.fetch_add(1, std::memory_order_relaxed);
    if (i >= load->total) break;
    ++r.claimed;
    const Request& req = requests[i % requests.size()];
    if (c == nullptr) {
      ++r.connects;
      absl::StatusOr<TcpStream> s = co_await TcpStream::connect(*load->target);
      if (!s.ok()) {
        Record(r, *load, kConnect, s.status().ToString());
        load->done.fetch_add(1, std::memory_order_relaxed);
        if (++connect_failures >= kMaxConnectFailures) {
          load->gave_up.store(true, std::memory_order_relaxed);
          break;
        }
        co_await sleep(kConnectBackoff);
        continue;
      }
      connect_failures = 0;
      // Requests and responses are single writes; Nagle would only hold
      // the last segment of each back.
      (void)s->set_nodelay(true);
      c = std::make_unique<Connection>();
      c->stream = *std::move(s);
    }
    const Clock::time_point start = Clock::now();
    Outcome o;
    if (load->timeout.count() > 0) {
      absl::StatusOr<Outcome> t = co_await timeout(
          load->timeout, Exchange(c.get(), &req, load->verify));
      o = t.ok() ? *std::move(t) : Failed(kTimeout, t.status().ToString());
    } else {
      o = co_await Exchange(c.get(), &req, load->verify);
    }
    const Clock::time_point end = Clock::now();
    if (o.error.has_value()) {
      Record(r, *load, *o.error, std::move(o.message));
      c.reset();
    } else {
      r.latency_ns.push_back((end - start).count());
      if (!o.keep_alive) c.reset();
    }
    load->done.fetch_add(1, std::memory_order_relaxed);
  }
  co_return r;
}

struct Memory {
  uint64_t rss_kb = 0;
  uint64_t hwm_kb = 0;
};

// VmRSS and VmHWM of `pid`, or nullopt if it cannot be read (no such
// process, no permission). A few microseconds: fine on a worker.
std::optional<Memory> ReadMemory(int64_t pid) {
  if (pid <= 0) return std::nullopt;
  const std::string path = absl::StrCat("/proc/", pid, "/status");
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) text.append(buf, n);
  ::close(fd);
  Memory m;
  bool rss = false;
  bool hwm = false;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    uint64_t* field = nullptr;
    if (absl::ConsumePrefix(&line, "VmRSS:")) {
      field = &m.rss_kb;
      rss = true;
    } else if (absl::ConsumePrefix(&line, "VmHWM:")) {
      field = &m.hwm_kb;
      hwm = true;
    } else {
      continue;
    }
    absl::ConsumeSuffix(&line, "kB");
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(line), field)) {
      return std::nullopt;
    }
  }
  if (!rss || !hwm) return std::nullopt;
  return m;
}

// Samples the server's RSS until `stop`, printing progress; returns the
// peak RSS seen. `stop` is relaxed: it only ends the loop, and the peak
// comes back through the JoinHandle.
Task<uint64_t> Monitor(Load* load, int64_t pid, Clock::time_point start,
                       const std::atomic<bool>* stop) {
  Interval every = interval(kSamplePeriod, MissedTickBehavior::kSkip);
  uint64_t peak_kb = 0;
  uint64_t rss_kb = 0;
  for (int tick = 0; !stop->load(std::memory_order_relaxed); ++tick) {
    co_await every.tick();
    if (std::optional<Memory> m = ReadMemory(pid)) {
      rss_kb = m->rss_kb;
      peak_kb = std::max(peak_kb, rss_kb);
    }
    if (tick > 0 && tick % kSamplesPerProgressLine == 0) {
      const uint64_t done = load->done.load(std::memory_order_relaxed);
      const double s =
          std::chrono::duration<double>(Clock::now() - start).count();
      std::fprintf(stderr,
                   "loadgen: %llu/%llu requests, %.0f req/s, %llu errors, "
                   "server rss %llu kB\n",
                   static_cast<unsigned long long>(done),
                   static_cast<unsigned long long>(load->total), done / s,
                   static_cast<unsigned long long>(
                       load->errors.load(std::memory_order_relaxed)),
                   static_cast<unsigned long long>(rss_kb));
    }
  }
  co_return peak_kb;
}

struct Totals {
  double seconds = 0;
  std::vector<int64_t> latency_ns;
  std::array<uint64_t, kErrorKinds> errors{};
  std::array<std::string, kErrorKinds> first_error;
  uint64_t connects = 0;
  uint64_t rss_peak_kb = 0;
};

Task<absl::StatusOr<Totals>> Run(Load* load, uint64_t concurrency,
                                 int64_t pid) {
  // One connection first, so that a wrong address fails at once instead of
  // as N connect errors.
  {
    absl::StatusOr<TcpStream> probe =
        co_await TcpStream::connect(*load->target);
    if (!probe.ok()) co_return probe.status();
  }
  const Clock::time_point start = Clock::now();
  std::atomic<bool> stop{false};
  JoinHandle<uint64_t> monitor = spawn(Monitor(load, pid, start, &stop));
  std::vector<JoinHandle<ConnectionResult>> tasks;
  tasks.reserve(concurrency);
  for (uint64_t i = 0; i < concurrency; ++i) {
    tasks.push_back(spawn(RunConnection(load)));
  }
  Totals t;
  uint64_t claimed = 0;
  for (JoinHandle<ConnectionResult>& h : tasks) {
    ConnectionResult r = co_await h;
    claimed += r.claimed;
    t.latency_ns.insert(t.latency_ns.end(), r.latency_ns.begin(),
                        r.latency_ns.end());
    for (int k = 0; k < kErrorKinds; ++k) {
      if (r.errors[k] > 0 && t.errors[k] == 0)
        t.first_error[k] = r.first_error[k];
      t.errors[k] += r.errors[k];
    }
    t.connects += r.connects;
  }
  if (claimed < load->total) {
    t.errors[kNotSent] = load->total - claimed;
    t.first_error[kNotSent] = absl::StrCat(
        "gave up after ", kMaxConnectFailures, " failed connects in a row");
  }
  t.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  stop.store(true, std::memory_order_relaxed);
  t.rss_peak_kb = co_await monitor;
  co_return t;
}

// Nearest-rank percentile of sorted values, in milliseconds.
double PercentileMs(const std::vector<int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t rank = static_cast<size_t>(std::ceil(p / 100 * sorted.size()));
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return sorted[rank - 1] / 1e6;
}

absl::StatusOr<SocketAddress> Resolve(const std::string& target) {
  absl::StatusOr<SocketAddress> numeric = SocketAddress::Parse(target);
  if (numeric.ok()) return numeric;
  const size_t colon = target.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("--target='", target, "' is not host:port"));
  }
  std::string host = target.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const std::string port = target.substr(colon + 1);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found);
  if (rc != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--target='", target, "': cannot resolve: ", gai_strerror(rc)));
  }
  absl::StatusOr<SocketAddress> addr =
      SocketAddress::FromSockaddr(found->ai_addr, found->ai_addrlen);
  ::freeaddrinfo(found);
  return addr;
}

int Main() {
  const uint64_t total = absl::GetFlag(FLAGS_requests);
  const uint64_t concurrency = absl::GetFlag(FLAGS_concurrency);
  const uint64_t payload_bytes = absl::GetFlag(FLAGS_payload_bytes);
  const uint64_t workers = absl::GetFlag(FLAGS_workers);
  const int64_t pid = absl::GetFlag(FLAGS_server_pid);
  if (total == 0 || concurrency == 0 || workers == 0 ||
      payload_bytes < kMinBodyBytes || pid < 0) {
    std::fprintf(stderr,
                 "loadgen: --requests, --concurrency and --workers must be "
                 "at least 1, --payload_bytes at least %zu, --server_pid not "
                 "negative\n",
                 kMinBodyBytes);
    return 2;
  }
  const std::string target_text = absl::GetFlag(FLAGS_target);
  absl::StatusOr<SocketAddress> target = Resolve(target_text);
  if (!target.ok()) {
    std::fprintf(stderr, "loadgen: %s\n", target.status().ToString().c_str());
    return 2;
  }

  Load load;
  load.target = *target;
  load.total = total;
  load.verify = absl::GetFlag(FLAGS_verify);
  load.timeout =
      std::chrono::milliseconds(absl::GetFlag(FLAGS_request_timeout_ms));
  std::vector<Request> requests;
  for (uint64_t i = 0; i < std::min(kDistinctBodies, total); ++i) {
    absl::StatusOr<Payload> p = MakePayload(payload_bytes, /*seed=*/i + 1);
    if (!p.ok()) {
      std::fprintf(stderr, "loadgen: %s\n", p.status().ToString().c_str());
      return 2;
    }
    Request r;
    r.wire = MakeRequest(target_text, p->body,
                         absl::GetFlag(FLAGS_connection_close));
    if (load.verify) {
      absl::StatusOr<std::string> expected = frontend::Generate(p->body);
      if (!expected.ok()) {
        // The bodies are ours: this is a bug in MakePayload.
        std::fprintf(stderr, "loadgen: generated body %llu is invalid: %s\n",
                     static_cast<unsigned long long>(i),
                     expected.status().ToString().c_str());
        return 2;
      }
      r.expected = *std::move(expected);
    }
    requests.push_back(std::move(r));
  }
  load.requests = &requests;

  absl::StatusOr<Builder> builder = Builder::from_env();
  if (!builder.ok()) {
    std::fprintf(stderr, "loadgen: %s\n", builder.status().ToString().c_str());
    return 2;
  }
  builder->worker_threads(workers);
  absl::StatusOr<Runtime> rt = builder->build();
  if (!rt.ok()) {
    std::fprintf(stderr, "loadgen: %s\n", rt.status().ToString().c_str());
    return 2;
  }
  absl::StatusOr<Totals> totals = rt->block_on(Run(&load, concurrency, pid));
  if (!totals.ok()) {
    std::fprintf(stderr, "loadgen: %s\n", totals.status().ToString().c_str());
    return 1;
  }
  const std::optional<Memory> end_memory = ReadMemory(pid);
  const Memory mem = end_memory.value_or(Memory{});
  const uint64_t rss_peak_kb = std::max(totals->rss_peak_kb, mem.rss_kb);

  std::vector<int64_t>& lat = totals->latency_ns;
  std::sort(lat.begin(), lat.end());
  uint64_t errors = 0;
  for (uint64_t e : totals->errors) errors += e;
  const double rps = lat.size() / totals->seconds;
  std::printf(
      "result requests=%llu concurrency=%llu payload_bytes=%llu seconds=%.3f "
      "rps=%.1f p50_ms=%.3f p99_ms=%.3f errors=%llu rss_peak_kb=%llu "
      "rss_end_kb=%llu hwm_kb=%llu\n",
      static_cast<unsigned long long>(total),
      static_cast<unsigned long long>(concurrency),
      static_cast<unsigned long long>(payload_bytes), totals->seconds, rps,
      PercentileMs(lat, 50), PercentileMs(lat, 99),
      static_cast<unsigned long long>(errors),
      static_cast<unsigned long long>(rss_peak_kb),
      static_cast<unsigned long long>(mem.rss_kb),
      static_cast<unsigned long long>(mem.hwm_kb));
  std::fflush(stdout);

  std::fprintf(stderr,
               "loadgen: %llu requests to %s (%llu ok, %llu failed) over %llu "
               "connections (%llu opened), %llu-byte bodies, in %.3f s: "
               "%.0f req/s\n",
               static_cast<unsigned long long>(total), target_text.c_str(),
               static_cast<unsigned long long>(lat.size()),
               static_cast<unsigned long long>(errors),
               static_cast<unsigned long long>(concurrency),
               static_cast<unsigned long long>(totals->connects),
               static_cast<unsigned long long>(payload_bytes), totals->seconds,
               rps);
  std::fprintf(stderr,
               "  latency ms: p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max "
               "%.3f\n",
               PercentileMs(lat, 50), PercentileMs(lat, 90),
               PercentileMs(lat, 99), PercentileMs(lat, 99.9),
               PercentileMs(lat, 100));
  std::fprintf(stderr, "  responses: %s\n",
               load.verify ? "framing, status and body checked against "
                             "Generate()"
                           : "framing and status checked (--noverify)");
  for (int k = 0; k < kErrorKinds; ++k) {
    if (totals->errors[k] == 0) continue;
    std::fprintf(stderr, "  errors %s: %llu, first: %s\n",
                 std::string(kErrorNames[k]).c_str(),
                 static_cast<unsigned long long>(totals->errors[k]),
                 totals->first_error[k].c_str());
  }
  if (pid > 0) {
    if (end_memory.has_value()) {
      std::fprintf(stderr,
                   "  server pid %lld: VmRSS peak %llu kB (sampled every "
                   "%lld ms), at end %llu kB; VmHWM %llu kB\n",
                   static_cast<long long>(pid),
                   static_cast<unsigned long long>(rss_peak_kb),
                   static_cast<long long>(kSamplePeriod.count()),
                   static_cast<unsigned long long>(mem.rss_kb),
                   static_cast<unsigned long long>(mem.hwm_kb));
    } else {
      std::fprintf(stderr, "  server pid %lld: /proc/%lld/status unreadable\n",
                   static_cast<long long>(pid), static_cast<long long>(pid));
    }
  }
  return errors == 0 ? 0 : 1;
}

}  // namespace
}  // namespace tidepool::loadgen

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Sends --requests POST /v1/generate requests over --concurrency "
      "keep-alive connections to the frontend at --target and prints "
      "'result requests=N concurrency=C payload_bytes=P seconds=S rps=X "
      "p50_ms=A p99_ms=B errors=E rss_peak_kb=R rss_end_kb=F hwm_kb=H'.");
  absl::ParseCommandLine(argc, argv);
  return tidepool::loadgen::Main();
}
