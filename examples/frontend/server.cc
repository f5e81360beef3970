#include "examples/frontend/server.h"

#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <span>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "alloc/alloc.h"
#include "examples/frontend/generate.h"
#include "examples/frontend/http/response.h"

namespace tidepool::frontend {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kHeadReadBytes = 16 * 1024;
// Body reads go straight into the parser's buffer in pieces up to this big:
// a 200 KB body takes a few reads, and an idle connection holds no more
// than a head's worth.
constexpr size_t kMaxBodyReadBytes = 256 * 1024;

std::string_view Std(absl::string_view s) { return {s.data(), s.size()}; }

// How long the next read of a connection may wait: read_timeout, and
// within a request no longer than what is left until `deadline`.
std::chrono::milliseconds ReadLimit(const ServerOptions& options,
                                    bool mid_request,
                                    Clock::time_point deadline) {
  if (!mid_request) return options.read_timeout;
  const auto left =
      std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
  return std::clamp(left, std::chrono::milliseconds(0), options.read_timeout);
}

// Reads what is available into the parser, waiting at most `limit`.
// Returns the byte count (0: the client closed), or DeadlineExceeded.
Task<absl::StatusOr<size_t>> ReadInto(TcpStream& s, http::RequestParser& p,
                                      size_t want,
                                      std::chrono::milliseconds limit) {
  absl::Span<char> space = p.PrepareFeed(want);
  auto r = co_await timeout(
      limit, s.read(std::span<char>(space.data(), space.size())));
  if (!r.ok()) co_return r.status();
  if (!r->ok()) co_return r->status();
  p.CommitFeed(**r);
  co_return **r;
}

// Ends a connection without losing the last response: FIN first, then read
// and drop what the client still sends, until it closes or `linger` ends.
// Closing with unread input would make the kernel send a reset, which can
// destroy the response before the client reads it.
//
// Kept out of ServeConnection's frame (noinline, and the drain buffer on the
// heap): clang places the frame of a coroutine awaited directly inside its
// caller's frame, so this one's would sit in every connection's frame, idle
// or not, for a step only a closing connection takes.
[[clang::noinline]] Task<void> LingerClose(TcpStream& s,
                                           std::chrono::milliseconds linger) {
  (void)s.shutdown(TcpStream::Shutdown::kWrite);
  const auto deadline = Clock::now() + linger;
  constexpr size_t kDrainBytes = 4096;
  const std::unique_ptr<char[]> buf(new char[kDrainBytes]);
  while (true) {
    const auto left = deadline - Clock::now();
    if (left <= Clock::duration::zero()) co_return;
    auto r =
        co_await timeout(left, s.read(std::span<char>(buf.get(), kDrainBytes)));
    if (!r.ok() || !r->ok() || **r == 0) co_return;
  }
}

// A 200 response with `text` as its body: chunked to an HTTP/1.1 client
// (each block in chunks of at most kMaxChunkBytes), with its length first
// to an HTTP/1.0 one, which has no chunked encoding (RFC 9112 7.1). Every
// write carries `deadline` (DeadlineExceeded once it passes). Each block is
// freed once written, so a slow reader holds less of the response and none
// is ever copied whole.
Task<absl::Status> StreamText(TcpStream& s, TokenText text,
                              http::ResponseOptions options,
                              Clock::time_point deadline) {
  const bool chunked = options.request_version != http::Version::kHttp10;
  const std::string head =
      chunked ? http::ChunkedResponseHead(200, options)
              : http::FixedLengthResponseHead(200, text.size(), options);
  if (absl::Status st = co_await s.write_all(head, deadline); !st.ok()) {
    co_return st;
  }
  std::string chunk;
  for (std::string& block : text.blocks) {
    if (chunked) {
      for (absl::string_view piece : SplitIntoChunks(block)) {
        chunk.clear();
        http::AppendChunk(piece, &chunk);
        if (absl::Status st = co_await s.write_all(chunk, deadline); !st.ok()) {
          co_return st;
        }
      }
    } else if (absl::Status st = co_await s.write_all(block, deadline);
               !st.ok()) {
      co_return st;
    }
    std::string().swap(block);
  }
  if (!chunked) co_return absl::OkStatus();
  co_return co_await s.write_all(Std(http::kLastChunk), deadline);
}

int64_t ProcStatusKb(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const std::string prefix = std::string(key) + ":";
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) == 0) {
      return std::strtoll(line.c_str() + prefix.size(), nullptr, 10);
    }
  }
  return -1;
}

void Metric(std::string* out, const char* name, const char* type,
            const char* help, int64_t value, const std::string& labels = "") {
  absl::StrAppend(out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type,
                  "\n", name, labels, " ", value, "\n");
}

}  // namespace

class Server::ConnRegistration {
 public:
  ConnRegistration(Server& server, Conn& conn) : server_(server), conn_(conn) {
    const std::lock_guard<std::mutex> lock(server_.mu_);
    server_.conns_.insert(&conn_);
  }
  ~ConnRegistration() {
    const std::lock_guard<std::mutex> lock(server_.mu_);
    server_.conns_.erase(&conn_);
  }
  ConnRegistration(const ConnRegistration&) = delete;
  ConnRegistration& operator=(const ConnRegistration&) = delete;

 private:
  Server& server_;
  Conn& conn_;
};

void Server::Drain() {
  const std::lock_guard<std::mutex> lock(mu_);
  draining_.store(true, std::memory_order_seq_cst);
  // Shutting the read side of a listening socket stops it listening: new
  // connections are refused, and the accept in progress fails, which ends
  // Run()'s loop.
  if (listen_fd_ >= 0) ::shutdown(listen_fd_, SHUT_RD);
  for (Conn* c : conns_) {
    if (!c->idle.load(std::memory_order_seq_cst)) continue;
    // First bytes of a request already here: it is served, then closed.
    int queued = 0;
    if (ioctl(c->fd, FIONREAD, &queued) == 0 && queued > 0) continue;
    // Its wait for the next request sees the end of the stream.
    ::shutdown(c->fd, SHUT_RD);
  }
}

Task<absl::Status> Server::Run(TcpListener listener) {
  {
    const std::lock_guard<std::mutex> lock(mu_);
    listen_fd_ = listener.native_handle();
    if (draining_.load(std::memory_order_seq_cst)) {
      ::shutdown(listen_fd_, SHUT_RD);
    }
  }
  Clock::time_point last_log{};
  while (true) {
    absl::StatusOr<TcpStream> conn = co_await listener.accept();
    if (!conn.ok()) {
      if (draining_.load(std::memory_order_seq_cst)) break;
      counters_.accept_errors.fetch_add(1, std::memory_order_relaxed);
      // Out of descriptors (EMFILE/ENFILE): the connections being served
      // will free some; waiting a little keeps accept() from spinning.
      if (Clock::now() - last_log > std::chrono::seconds(1)) {
        last_log = Clock::now();
        std::fprintf(stderr, "frontend: accept: %s\n",
                     conn.status().ToString().c_str());
      }
      if (absl::IsResourceExhausted(conn.status())) {
        co_await sleep(options_.accept_backoff);
      }
      continue;
    }
    // The JoinHandle is dropped: the connection task runs detached, and
    // connections_ counts it until it ends.
    connections_.spawn(ServeConnection(*std::move(conn))).detach();
  }
  {
    const std::lock_guard<std::mutex> lock(mu_);
    listen_fd_ = -1;
    listener.close();
  }
  connections_.close();
  co_await connections_.wait();
  co_return absl::OkStatus();
}

Task<void> Server::ServeConnection(TcpStream s) {
  struct Open {
    ServerCounters& c;
    explicit Open(ServerCounters& c) : c(c) {
      c.connections_open.fetch_add(1, std::memory_order_relaxed);
      c.connections_total.fetch_add(1, std::memory_order_relaxed);
    }
    ~Open() { c.connections_open.fetch_sub(1, std::memory_order_relaxed); }
  } open(counters_);
  Conn conn{s.native_handle()};
  const ConnRegistration registration(*this, conn);
  (void)s.set_nodelay(true);  // the head and the first chunk go out at once
  // The parser exists only while a request is on its way: between requests
  // an idle keep-alive connection holds its task and socket, no parser.
  auto parser = std::make_unique<http::RequestParser>(options_.limits);
  size_t want = kHeadReadBytes;
  bool mid_request = false;  // bytes of an unfinished request are buffered
  // Within a request, each read waits at most read_timeout and no longer
  // than what is left of request_timeout, counted for the head from the
  // read that brought its first bytes and for the body from the permit
  // (and any 100 Continue), so a client that trickles its request gets 408
  // and a permit is held for the body at most that long. The wait for the
  // permit itself does not count against the client.
  Clock::time_point request_deadline = Clock::time_point::max();
  // Under a memory budget (TIDEPOOL_MEMORY_BUDGET) a request's body, parse
  // and response are taken on only with a permit, held from its head to
  // its response; without a budget taking one costs nothing.
  BudgetPermit permit;
  while (true) {
    switch (parser->Next()) {
      case http::ParseEvent::kNeedMore: {
        // One TimedOut step for both waits below, and no status kept
        // across them: each co_await site and each live object with a
        // destructor takes room in this frame, which every idle connection
        // keeps.
        bool timed_out = false;
        bool readable = true;
        if (parser->buffered_bytes() == 0) {
          // Between requests: wait for the next one holding no buffer (nor
          // parser), so an idle keep-alive connection costs its task and
          // socket only.
          parser->ReleaseIdleBuffer();
          if (!mid_request) {
            parser.reset();
            conn.idle.store(true, std::memory_order_seq_cst);
            if (draining_.load(std::memory_order_seq_cst)) co_return;
          }
          {
            const absl::Status ready = co_await timeout(
                ReadLimit(options_, mid_request, request_deadline),
                s.readable());
            timed_out = absl::IsDeadlineExceeded(ready);
            readable = ready.ok();
          }
          conn.idle.store(false, std::memory_order_relaxed);
          if (readable && !parser) {
            parser = std::make_unique<http::RequestParser>(options_.limits);
          }
        }
        if (readable) {
          absl::StatusOr<size_t> n = co_await ReadInto(
              s, *parser, want,
              ReadLimit(options_, mid_request, request_deadline));
          if (n.ok() && *n > 0) {
            if (!mid_request) {
              request_deadline = Clock::now() + options_.request_timeout;
            }
            mid_request = true;
            break;
          }
          timed_out = !n.ok() && absl::IsDeadlineExceeded(n.status());
        }
        if (timed_out) {
          permit.reset();
          co_await TimedOut(s, mid_request);
        }
        co_return;  // closed by the client, reset, or idle too long
      }
      case http::ParseEvent::kHead: {
        permit = co_await budget_permit();
        const uint64_t body = parser->head().content_length();
        want = std::clamp<size_t>(body, kHeadReadBytes, kMaxBodyReadBytes);
        if (parser->head().expect_continue()) {
          if (!(co_await s.write_all(Std(http::kContinueResponse))).ok()) {
            co_return;
          }
        }
        mid_request = true;
        request_deadline = Clock::now() + options_.request_timeout;
        break;
      }
      case http::ParseEvent::kRequest: {
        mid_request = false;
        want = kHeadReadBytes;
        const bool keep_alive = parser->head().keep_alive();
        if (!(co_await Respond(s, *parser))) co_return;
        permit.reset();
        if (!keep_alive || draining_.load(std::memory_order_relaxed)) {
          co_await LingerClose(s, options_.linger);
          co_return;
        }
        break;
      }
      case http::ParseEvent::kError: {
        counters_.responses_4xx.fetch_add(1, std::memory_order_relaxed);
        if ((co_await s.write_all(http::ErrorResponse(parser->error()))).ok()) {
          co_await LingerClose(s, options_.linger);
        }
        co_return;
      }
    }
  }
}

// noinline, as LingerClose: only a connection that times out takes this
// step.
[[clang::noinline]] Task<void> Server::TimedOut(TcpStream& s,
                                                bool mid_request) {
  counters_.timeouts.fetch_add(1, std::memory_order_relaxed);
  if (!mid_request) co_return;
  counters_.responses_4xx.fetch_add(1, std::memory_order_relaxed);
  if ((co_await s.write_all(
           http::ErrorResponse(408, "request not received in time")))
          .ok()) {
    co_await LingerClose(s, options_.linger);
  }
}

// noinline: its frame is allocated per request rather than kept inside
// every connection's frame while it waits (see LingerClose).
[[clang::noinline]] Task<bool> Server::Respond(TcpStream& s,
                                               http::RequestParser& parser) {
  const http::RequestHead& head = parser.head();
  http::ResponseOptions options;
  // Draining: this is the connection's last response.
  options.keep_alive =
      head.keep_alive() && !draining_.load(std::memory_order_relaxed);
  options.request_version = head.version();
  absl::string_view path = head.target();
  path = path.substr(0, path.find('?'));
  const absl::string_view method = head.method();

  int status = 200;
  std::string reply;
  if (path == "/v1/generate" && method == "POST") {
    // The blocking call takes the buffer the body arrived in: a running
    // blocking call cannot be cancelled, and this connection may go away
    // before it ends. No copy, and the buffer is freed when it returns.
    auto work = [body = parser.TakeBody()] {
      return GenerateText(body.view());
    };
    absl::StatusOr<TokenText> text;
    try {
      text = co_await spawn_blocking(std::move(work));
    } catch (const std::exception& e) {
      text = absl::InternalError(e.what());
    }
    if (text.ok()) {
      counters_.responses_2xx.fetch_add(1, std::memory_order_relaxed);
      const absl::Status sent = co_await StreamText(
          s, *std::move(text), options, Clock::now() + options_.write_timeout);
      if (absl::IsDeadlineExceeded(sent)) {
        counters_.timeouts.fetch_add(1, std::memory_order_relaxed);
      }
      co_return sent.ok();
    } else {
      status = HttpStatusFor(text.status());
      reply = http::FullResponse(status, text.status().message(), options);
    }
  } else if (path == "/healthz" && method == "GET") {
    reply = http::FullResponse(200, "ok\n", options);
  } else if (path == "/metrics" && method == "GET") {
    http::ResponseOptions text_options = options;
    text_options.content_type = "text/plain; version=0.0.4";
    reply = http::FullResponse(200, MetricsText(), text_options);
  } else if (path == "/debug/tasks" && method == "GET" &&
             options_.runtime != nullptr) {
    // The runtime's task dump (Runtime::dump_text): this connection's task
    // shows as running, the accept loop as waiting at its accept().
    http::ResponseOptions text_options = options;
    text_options.content_type = "text/plain";
    reply =
        http::FullResponse(200, options_.runtime->dump_text(), text_options);
  } else if (path == "/v1/generate" || path == "/healthz" ||
             path == "/metrics" ||
             (path == "/debug/tasks" && options_.runtime != nullptr)) {
    status = 405;
    reply = http::FullResponse(405, "method not allowed\n", options);
  } else {
    status = 404;
    reply = http::FullResponse(404, "not found\n", options);
  }
  (status < 400   ? counters_.responses_2xx
   : status < 500 ? counters_.responses_4xx
                  : counters_.responses_5xx)
      .fetch_add(1, std::memory_order_relaxed);
  const absl::Status sent =
      co_await s.write_all(reply, Clock::now() + options_.write_timeout);
  co_return sent.ok();
}

std::string Server::MetricsText() const {
  std::string out;
  Metric(&out, "process_resident_memory_bytes", "gauge",
         "Resident set size (VmRSS).", alloc::ResidentBytes());
  Metric(&out, "process_resident_memory_peak_bytes", "gauge",
         "Peak resident set size (VmHWM).", ProcStatusKb("VmHWM") * 1024);
  if (options_.runtime != nullptr) {
    absl::StrAppend(&out, PrometheusText(*options_.runtime));
  }
  const auto count = [](const std::atomic<int64_t>& v) {
    return v.load(std::memory_order_relaxed);
  };
  const auto total = [](const std::atomic<uint64_t>& v) {
    return v.load(std::memory_order_relaxed);
  };
  Metric(&out, "frontend_connections_open", "gauge", "Open connections.",
         count(counters_.connections_open));
  Metric(&out, "frontend_connections_total", "counter", "Connections accepted.",
         total(counters_.connections_total));
  Metric(&out, "frontend_accept_errors_total", "counter",
         "Failed accepts (EMFILE and others).", total(counters_.accept_errors));
  Metric(&out, "frontend_timeouts_total", "counter",
         "Connections dropped for a read or write timeout.",
         total(counters_.timeouts));
  absl::StrAppend(&out,
                  "# HELP frontend_responses_total Responses by status "
                  "class.\n# TYPE frontend_responses_total counter\n");
  absl::StrAppend(&out, "frontend_responses_total{class=\"2xx\"} ",
                  total(counters_.responses_2xx), "\n");
  absl::StrAppend(&out, "frontend_responses_total{class=\"4xx\"} ",
                  total(counters_.responses_4xx), "\n");
  absl::StrAppend(&out, "frontend_responses_total{class=\"5xx\"} ",
                  total(counters_.responses_5xx), "\n");
  return out;
}

}  // namespace tidepool::frontend
