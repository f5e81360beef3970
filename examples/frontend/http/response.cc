#include "examples/frontend/http/response.h"

#include <charconv>

namespace tidepool::frontend::http {
namespace {

void AppendView(absl::string_view s, std::string* out) {
  out->append(s.data(), s.size());
}

void AppendDecimal(uint64_t v, std::string* out) {
  char buf[20];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, r.ptr - buf);
}

void AppendConnection(const ResponseOptions& options, std::string* out) {
  if (!options.keep_alive) {
    AppendHeader("Connection", "close", out);
  } else if (options.request_version == Version::kHttp10) {
    AppendHeader("Connection", "keep-alive", out);
  }
}

// Status line, Content-Type, Content-Length, Connection, the empty line.
void AppendHead(int status, size_t content_length,
                const ResponseOptions& options, std::string* out) {
  AppendStatusLine(status, out);
  AppendHeader("Content-Type", options.content_type, out);
  out->append("Content-Length: ");
  AppendDecimal(content_length, out);
  out->append("\r\n");
  AppendConnection(options, out);
  out->append("\r\n");
}

}  // namespace

absl::string_view ReasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 417:
      return "Expectation Failed";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

void AppendStatusLine(int status, std::string* out) {
  out->append("HTTP/1.1 ");
  // Three digits always (RFC 9110 15): an out-of-range code is a caller bug,
  // but it must not produce a malformed status line.
  if (status < 100 || status > 999) status = 500;
  AppendDecimal(static_cast<uint64_t>(status), out);
  out->push_back(' ');
  AppendView(ReasonPhrase(status), out);
  out->append("\r\n");
}

void AppendHeader(absl::string_view name, absl::string_view value,
                  std::string* out) {
  AppendView(name, out);
  out->append(": ");
  AppendView(value, out);
  out->append("\r\n");
}

std::string FixedLengthResponseHead(int status, size_t content_length,
                                    const ResponseOptions& options) {
  std::string out;
  out.reserve(128 + options.content_type.size());
  AppendHead(status, content_length, options, &out);
  return out;
}

std::string FullResponse(int status, absl::string_view body,
                         const ResponseOptions& options) {
  std::string out;
  out.reserve(128 + options.content_type.size() + body.size());
  AppendHead(status, body.size(), options, &out);
  AppendView(body, &out);
  return out;
}

std::string ChunkedResponseHead(int status, const ResponseOptions& options) {
  std::string out;
  out.reserve(128 + options.content_type.size());
  AppendStatusLine(status, &out);
  AppendHeader("Content-Type", options.content_type, &out);
  AppendHeader("Transfer-Encoding", "chunked", &out);
  AppendConnection(options, &out);
  out.append("\r\n");
  return out;
}

void AppendChunk(absl::string_view data, std::string* out) {
  if (data.empty()) return;
  char buf[16];
  auto r = std::to_chars(buf, buf + sizeof(buf), data.size(), 16);
  out->reserve(out->size() + (r.ptr - buf) + data.size() + 4);
  out->append(buf, r.ptr - buf);
  out->append("\r\n");
  AppendView(data, out);
  out->append("\r\n");
}

std::string ErrorResponse(int status, absl::string_view reason) {
  if (status < 100 || status > 999) status = 500;
  std::string body;
  AppendDecimal(static_cast<uint64_t>(status), &body);
  body.push_back(' ');
  AppendView(ReasonPhrase(status), &body);
  body.append(": ");
  AppendView(reason, &body);
  body.push_back('\n');
  return FullResponse(status, body, ResponseOptions{.keep_alive = false});
}

}  // namespace tidepool::frontend::http
