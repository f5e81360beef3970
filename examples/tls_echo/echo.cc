#include "examples/tls_echo/echo.h"

#include <chrono>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace tidepool::tls_echo {
namespace {

using namespace std::chrono_literals;

// Appends the next line of `reader` to `line`, up to and including '\n' or
// to the end of the stream, but not more than `max` bytes.
Task<absl::Status> ReadLine(BufReader<TlsStream>& reader, std::string& line,
                            size_t max) {
  while (true) {
    absl::StatusOr<std::span<const char>> have = co_await reader.fill_buf();
    if (!have.ok()) co_return have.status();
    if (have->empty()) co_return absl::OkStatus();
    const char* nl =
        static_cast<const char*>(std::memchr(have->data(), '\n', have->size()));
    const size_t n = nl != nullptr ? nl - have->data() + 1 : have->size();
    if (line.size() + n > max) {
      co_return absl::ResourceExhaustedError(
          absl::StrCat("echo: a line longer than ", max, " bytes"));
    }
    line.append(have->data(), n);
    reader.consume(n);
    if (nl != nullptr) co_return absl::OkStatus();
  }
}

Task<void> ServeOne(
    TlsStream stream,
    std::shared_ptr<std::function<void(const absl::Status&)>> on_end) {
  absl::Status st = co_await EchoLines(std::move(stream));
  if (*on_end) (*on_end)(st);
}

}  // namespace

Task<absl::Status> EchoLines(TlsStream stream, size_t max_line_bytes) {
  if (absl::Status st = co_await stream.handshake(); !st.ok()) co_return st;
  BufReader<TlsStream> reader(std::move(stream));
  std::string line;
  while (true) {
    line.clear();
    if (absl::Status st = co_await ReadLine(reader, line, max_line_bytes);
        !st.ok()) {
      co_return st;
    }
    if (line.empty()) break;  // the client's close_notify
    if (absl::Status st = co_await reader.get_ref().write_all(line); !st.ok()) {
      co_return st;
    }
  }
  co_return co_await reader.get_ref().shutdown();
}

Task<void> Serve(TlsListener& listener,
                 std::function<void(const absl::Status&)> on_end) {
  // Shared with the connection tasks, which may outlive this one.
  auto shared = std::make_shared<std::function<void(const absl::Status&)>>(
      std::move(on_end));
  while (true) {
    absl::StatusOr<TlsStream> conn = co_await listener.accept();
    if (conn.ok()) {
      spawn(ServeOne(*std::move(conn), shared)).detach();
      continue;
    }
    if (*shared) (*shared)(conn.status());
    co_await sleep(10ms);
  }
}

}  // namespace tidepool::tls_echo
