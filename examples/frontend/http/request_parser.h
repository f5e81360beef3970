#ifndef TIDEPOOL_EXAMPLES_FRONTEND_HTTP_REQUEST_PARSER_H_
#define TIDEPOOL_EXAMPLES_FRONTEND_HTTP_REQUEST_PARSER_H_

// RequestParser: an incremental HTTP/1.1 request parser (RFC 9112) for one
// connection. The connection's read loop feeds it bytes as they arrive, split
// anywhere, and asks Next() what is complete:
//
//   RequestParser parser;                      // one per connection
//   for (;;) {
//     switch (parser.Next()) {
//       case ParseEvent::kNeedMore: {          // read, then loop again
//         absl::Span<char> space = parser.PrepareFeed();
//         size_t n = co_await stream.read(space);
//         if (n == 0) return;                  // peer closed
//         parser.CommitFeed(n);
//         break;
//       }
//       case ParseEvent::kHead:                // body not read yet
//         if (parser.head().expect_continue()) write(kContinueResponse);
//         break;
//       case ParseEvent::kRequest:             // head() and body() ready
//         Serve(parser.head(), parser.body());
//         if (!parser.head().keep_alive()) return;
//         break;
//       case ParseEvent::kError:               // always close afterwards
//         write(ErrorResponse(parser.error()));
//         return;
//     }
//   }
//
// What it accepts, strictly: CRLF line ends only (a bare LF or a bare CR is
// 400); empty lines before the request line are skipped; the request line is
// method SP target SP HTTP/d.d with a token method and a target of visible
// ASCII; HTTP/1.0 and HTTP/1.x (x >= 1, treated as 1.1) are served, any
// other well-formed major version is 505, any other version string 400;
// header lines are token ":" OWS value OWS, with no obs-fold (a line that
// starts with whitespace is 400) and no control bytes in the value. An
// HTTP/1.1 request needs exactly one Host (RFC 9112 3.2), an HTTP/1.0 request
// at most one. The body comes only by Content-Length: Transfer-Encoding is
// 501, Transfer-Encoding beside Content-Length 400, a Content-Length that is
// not digits, overflows 64 bits or differs between lines (or list members)
// 400, and one above max_body_bytes 413 as soon as the head is complete. A
// head longer than max_head_bytes is 431.
//
// Results do not depend on how the bytes were split: a whole buffer and the
// same bytes one at a time give the same events and the same error (the
// fuzzer in examples/frontend/fuzz checks this). Cost: every head byte is
// scanned once for line ends and once more when its line is checked; the head
// is copied once into RequestHead; body bytes are only copied in by Feed
// (PrepareFeed avoids even that). Memory: the buffer grows with the request,
// up to its announced size plus 4 KiB, and between requests falls back to at
// most 16 KiB, so idle keep-alive connections stay small. Not thread-safe;
// one parser per connection.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace tidepool::frontend::http {

// The request's protocol version. HTTP/1.2 to HTTP/1.9 count as 1.1, as
// RFC 9110 2.5 asks of a 1.1 recipient.
enum class Version { kHttp10, kHttp11 };

struct ParserLimits {
  // Request line, header lines and the empty line that ends them, plus any
  // empty lines before the request line. Longer: 431. At most 2^32 - 1.
  size_t max_head_bytes = 16 * 1024;
  // Largest Content-Length accepted; larger: 413, decided from the header.
  uint64_t max_body_bytes = 8 * 1024 * 1024;
  // RFC 9112 3.2: an HTTP/1.1 request without Host is 400. Off only for
  // clients that cannot send one.
  bool require_host = true;
};

// Why a request was rejected: the status to answer with (400, 413, 431, 501
// or 505) and a short, static, human-readable reason for the response body.
struct ParseError {
  int status = 0;
  absl::string_view reason;
};

// A field line as received: the name keeps its case, the value has its
// leading and trailing whitespace removed.
struct Header {
  absl::string_view name;
  absl::string_view value;
};

// The request line, header fields and framing of one request. Owns its bytes,
// so it stays valid after the parser moves on; copying copies the head.
class RequestHead {
 public:
  absl::string_view method() const { return View(method_); }
  absl::string_view target() const { return View(target_); }
  Version version() const { return version_; }

  size_t header_count() const { return headers_.size(); }
  Header header(size_t i) const {
    return {View(headers_[i].name), View(headers_[i].value)};
  }
  // The value of the first field named `name` (ASCII case-insensitive), or
  // nullopt. Linear in the number of fields.
  std::optional<absl::string_view> Find(absl::string_view name) const;

  // The body's length: the Content-Length value, or 0 without one.
  uint64_t content_length() const { return content_length_; }
  // Whether the connection stays open after this request: HTTP/1.1 unless a
  // Connection field lists "close"; HTTP/1.0 only if it lists "keep-alive"
  // (and not "close").
  bool keep_alive() const { return keep_alive_; }
  // An HTTP/1.1 request with "Expect: 100-continue": the client may wait for
  // an interim 100 response before sending the body.
  bool expect_continue() const { return expect_continue_; }

 private:
  friend class RequestParser;

  // Offsets into raw_, so that moving or copying the head keeps them valid.
  struct Range {
    uint32_t begin = 0;
    uint32_t size = 0;
  };
  struct Field {
    Range name;
    Range value;
  };

  absl::string_view View(Range r) const {
    return absl::string_view(raw_.data() + r.begin, r.size);
  }

  std::string raw_;
  Range method_;
  Range target_;
  Version version_ = Version::kHttp11;
  std::vector<Field> headers_;
  uint64_t content_length_ = 0;
  bool keep_alive_ = false;
  bool expect_continue_ = false;
};

enum class ParseEvent {
  kNeedMore,  // Feed more bytes, then call Next() again.
  kHead,      // head() is complete; the body has not been read yet.
  kRequest,   // head() and body() are complete.
  kError,     // error() says why; sticky. Answer it and close.
};

class RequestParser {
 public:
  explicit RequestParser(ParserLimits limits = {});

  RequestParser(const RequestParser&) = delete;
  RequestParser& operator=(const RequestParser&) = delete;
  RequestParser(RequestParser&&) = default;
  RequestParser& operator=(RequestParser&&) = default;

  // Appends received bytes (one copy). Invalidates body().
  void Feed(absl::string_view bytes);
  // Zero-copy alternative to Feed: returns at least `min_bytes` of writable
  // space at the end of the buffer; read into it, then CommitFeed the count
  // read (at most the span's size). Invalidates body().
  absl::Span<char> PrepareFeed(size_t min_bytes = 4096);
  void CommitFeed(size_t n);

  // Parses as far as the buffered bytes allow. For each request it returns
  // kHead once, then kNeedMore until the body is buffered, then kRequest.
  // The call after kRequest drops that request and starts on the next one
  // from the bytes already buffered (pipelining).
  ParseEvent Next();

  // Valid after kHead or kRequest, until the next request's kHead.
  const RequestHead& head() const { return head_; }
  // Valid after kRequest until the next Feed, PrepareFeed, Next or TakeBody.
  absl::string_view body() const;

  // The body of a request, owning the buffer it was received into.
  struct OwnedBody {
    std::unique_ptr<char[]> buffer;
    size_t offset = 0;
    size_t size = 0;
    absl::string_view view() const {
      return absl::string_view(buffer.get() + offset, size);
    }
  };
  // After kRequest: hands over the buffer that holds the body, so that it
  // can outlive the parser (a blocking call working on it) without a copy.
  // Bytes received after the request (pipelined ones) are copied into a new
  // buffer and parsed as usual; body() is empty afterwards. An empty
  // OwnedBody at any other time.
  OwnedBody TakeBody();

  // Between requests (no bytes buffered): frees the buffer and the last
  // request's head, so that a connection waiting for its next request holds
  // neither; head() is empty afterwards. Does nothing otherwise.
  void ReleaseIdleBuffer();
  // Valid after kError.
  const ParseError& error() const { return error_; }

  // True when bytes of an unfinished request are buffered, or its head was
  // parsed and the body is incomplete: the peer closing now is a truncated
  // request, not a clean end of a keep-alive connection.
  bool HasPartialRequest() const;
  // Bytes of the current request so far, including empty lines before it
  // (after kRequest: its full size on the wire).
  size_t request_bytes() const;
  // Bytes fed and not yet dropped (the current request and any after it).
  size_t buffered_bytes() const { return size_ - start_; }

 private:
  enum class State { kHead, kBody, kDone, kError };

  ParseEvent Fail(int status, absl::string_view reason);
  ParseEvent ParseHead();
  bool ParseRequestLine(absl::string_view line, size_t offset);
  bool ParseHeaderLine(absl::string_view line, size_t offset);
  bool FinishHead();
  void StartNextRequest();
  void Reserve(size_t free_bytes);
  // Forgets the buffer (freed, or already moved out): empty, no capacity.
  void DropBuffer();

  ParserLimits limits_;
  State state_ = State::kHead;

  // Buffer: bytes [start_, size_) are live; start_ is the current request's
  // first byte. Offsets below are relative to start_.
  std::unique_ptr<char[]> data_;
  size_t capacity_ = 0;
  size_t size_ = 0;
  size_t start_ = 0;

  size_t line_begin_ = 0;  // First byte of the line being parsed.
  size_t scanned_ = 0;     // Bytes already searched for its LF.
  bool seen_request_line_ = false;
  size_t head_size_ = 0;  // Set when the head is complete.
  // TakeBody took the current request's bytes: the buffer starts after it.
  bool body_taken_ = false;
  // The head being parsed; swapped into head_ when complete so that head()
  // stays valid while the next request's head arrives.
  RequestHead pending_;
  RequestHead head_;
  ParseError error_;
};

}  // namespace tidepool::frontend::http

#endif  // TIDEPOOL_EXAMPLES_FRONTEND_HTTP_REQUEST_PARSER_H_
