#ifndef TIDEPOOL_EXAMPLES_FRONTEND_HTTP_RESPONSE_H_
#define TIDEPOOL_EXAMPLES_FRONTEND_HTTP_RESPONSE_H_

// Writers for HTTP/1.1 responses (RFC 9112): status line and fields, a whole
// response with Content-Length, a chunked response's head and chunk framing,
// and the error response that ends a connection. Pure string building; the
// connection's task writes the bytes.
//
//   ResponseOptions opts{.keep_alive = head.keep_alive(),
//                        .request_version = head.version()};
//   // Streamed (HTTP/1.1 requests only; see ChunkedResponseHead):
//   std::string out = ChunkedResponseHead(200, opts);
//   for (absl::string_view piece : pieces) AppendChunk(piece, &out);
//   out.append(kLastChunk);
//   // Or whole:
//   std::string out = FullResponse(200, "hello\n", opts);
//   // Or with its length first and the body written after it:
//   std::string out = FixedLengthResponseHead(200, body_size, opts);
//   // Or a parse error, after which the connection closes:
//   std::string out = ErrorResponse(parser.error());
//
// The status line always says HTTP/1.1, the highest version this server
// speaks (RFC 9110 6.2), whatever minor version the request had. Each call
// allocates at most once for its result; AppendChunk appends to the
// caller's string.

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"
#include "examples/frontend/http/request_parser.h"

namespace tidepool::frontend::http {

// The interim response to "Expect: 100-continue" (RequestHead::
// expect_continue), sent before reading the body.
inline constexpr absl::string_view kContinueResponse =
    "HTTP/1.1 100 Continue\r\n\r\n";
// The zero-size chunk and empty trailer section that end a chunked body.
inline constexpr absl::string_view kLastChunk = "0\r\n\r\n";

struct ResponseOptions {
  absl::string_view content_type = "text/plain";
  // Whether the server keeps the connection open after this response: false
  // sends "Connection: close"; true sends "Connection: keep-alive" to an
  // HTTP/1.0 client, which would otherwise assume close, and nothing to an
  // HTTP/1.1 client.
  bool keep_alive = true;
  Version request_version = Version::kHttp11;
};

// The reason phrase for `status` ("OK", "Bad Request", ...); "Unknown" for
// codes this server never sends.
absl::string_view ReasonPhrase(int status);

// "HTTP/1.1 <status> <reason>\r\n".
void AppendStatusLine(int status, std::string* out);
// "<name>: <value>\r\n". The caller passes valid field text; nothing is
// escaped.
void AppendHeader(absl::string_view name, absl::string_view value,
                  std::string* out);

// A complete response: status line, Content-Type, Content-Length,
// Connection as ResponseOptions says, the empty line, the body.
std::string FullResponse(int status, absl::string_view body,
                         const ResponseOptions& options);

// The head of a response whose body of `content_length` bytes the caller
// writes after it, in as many writes as it likes: FullResponse without the
// body. For a long body known in pieces, to an HTTP/1.0 client.
std::string FixedLengthResponseHead(int status, size_t content_length,
                                    const ResponseOptions& options);

// The head of a response whose body follows in chunks: status line,
// Content-Type, "Transfer-Encoding: chunked", Connection, the empty line.
// RFC 9112 6.1 forbids chunked responses to HTTP/1.0 requests; send those a
// FullResponse or a FixedLengthResponseHead instead.
std::string ChunkedResponseHead(int status, const ResponseOptions& options);

// Appends one chunk: its size in lowercase hex, CRLF, the data, CRLF. Empty
// data appends nothing, because a zero-size chunk would end the body; end it
// with kLastChunk.
void AppendChunk(absl::string_view data, std::string* out);

// The response to a request the server will not serve: status line,
// "Content-Type: text/plain", Content-Length, "Connection: close", and a
// body "<status> <reason phrase>: <reason>\n". The caller closes the
// connection after writing it.
std::string ErrorResponse(int status, absl::string_view reason);
inline std::string ErrorResponse(const ParseError& error) {
  return ErrorResponse(error.status, error.reason);
}

}  // namespace tidepool::frontend::http

#endif  // TIDEPOOL_EXAMPLES_FRONTEND_HTTP_RESPONSE_H_
