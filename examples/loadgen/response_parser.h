#ifndef TIDEPOOL_EXAMPLES_LOADGEN_RESPONSE_PARSER_H_
#define TIDEPOOL_EXAMPLES_LOADGEN_RESPONSE_PARSER_H_

// ResponseParser: an incremental HTTP/1.1 response parser for one client
// connection. The read loop hands it whatever arrived, split anywhere; it
// takes the bytes of the current response and says when that is complete.
//
//   ResponseParser parser;
//   parser.Reset(&expected_body);        // before each response
//   while (!parser.done() && !parser.failed()) {
//     if (pending.empty()) pending = co_await Read();   // "" at end of stream
//     if (pending.empty()) { parser.FinishAtEof(); break; }
//     pending.remove_prefix(parser.Feed(pending));
//   }
//
// Framing, strictly (a load generator should notice a server that cheats):
// CRLF line ends; a status line "HTTP/1.d SSS[ reason]"; header lines
// "name: value"; 1xx interim responses are skipped. The body is chunked
// when the last transfer coding is "chunked" (chunk sizes in hex, chunk
// extensions after ';' ignored, CRLF after each chunk's data, trailer lines
// after the 0-chunk read and dropped), else Content-Length bytes, else (no
// framing header) everything up to end of stream. Lines are limited to
// kMaxLineBytes.
//
// The body is not kept unless asked for: given an expected body, each
// piece is compared as it arrives (one memcmp pass, no copy), and a
// difference is recorded but does not stop the framing checks. Cost: line
// bytes are copied once into a line buffer; body bytes are only compared.
// Not thread-safe; one parser per connection.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace tidepool::loadgen {

class ResponseParser {
 public:
  static constexpr size_t kMaxLineBytes = 16 * 1024;

  ResponseParser() { Reset(); }

  // Starts a new response. `expected` (may be null) is the body to compare
  // against; `sink` (may be null) receives a copy of the body. Both must
  // outlive the response.
  void Reset(const std::string* expected = nullptr,
             std::string* sink = nullptr);

  // Consumes the bytes of `data` that belong to the current response and
  // returns how many; stops early at the end of the response or at a
  // framing error.
  size_t Feed(absl::string_view data);
  // The connection reached end of stream: completes a body delimited by
  // close, fails anything else.
  void FinishAtEof();

  bool done() const { return state_ == State::kDone; }
  bool failed() const { return state_ == State::kError; }
  // Why it failed: a short static description.
  absl::string_view error() const { return error_; }

  // From the head; valid once it has been read.
  int status() const { return status_; }
  bool chunked() const { return chunked_; }
  // Whether the connection may carry another request: HTTP/1.1 unless
  // "Connection: close"; HTTP/1.0 only with "Connection: keep-alive"; never
  // for a body delimited by close.
  bool keep_alive() const { return keep_alive_; }

  uint64_t body_bytes() const { return body_bytes_; }
  // Data chunks seen (not counting the 0-chunk) and the largest one.
  size_t chunk_count() const { return chunk_count_; }
  uint64_t max_chunk_bytes() const { return max_chunk_bytes_; }
  // Whether the body equals `expected` (true when none was given). Valid
  // once done().
  bool body_matches() const;
  // The first byte offset where the body differs from `expected`, if any.
  std::optional<uint64_t> first_difference() const;

 private:
  enum class State {
    kStatusLine,
    kHeaders,
    kChunkSize,
    kChunkData,
    kChunkDataEnd,  // the CRLF after a chunk's data
    kTrailers,
    kBody,          // Content-Length bytes
    kBodyUntilEof,  // no framing: up to end of stream
    kDone,
    kError,
  };

  // Appends from `data` to line_ up to and including a LF. Returns the bytes
  // taken; *complete says whether line_ now holds a whole line (CRLF
  // removed). Fails on a line that is too long or ends in a bare LF.
  size_t TakeLine(absl::string_view data, bool* complete);
  void OnLine(absl::string_view line);
  void OnStatusLine(absl::string_view line);
  void OnHeader(absl::string_view line);
  void OnHeadEnd();
  void OnChunkSize(absl::string_view line);
  void OnBodyBytes(absl::string_view bytes);
  void Fail(absl::string_view why);

  State state_ = State::kStatusLine;
  absl::string_view error_;
  std::string line_;
  const std::string* expected_ = nullptr;
  std::string* sink_ = nullptr;

  int status_ = 0;
  bool http10_ = false;
  bool chunked_ = false;
  bool has_transfer_encoding_ = false;
  bool connection_close_ = false;
  bool connection_keep_alive_ = false;
  bool keep_alive_ = false;
  std::optional<uint64_t> content_length_;

  uint64_t remaining_ = 0;  // of the current chunk or Content-Length body
  size_t crlf_seen_ = 0;    // bytes of the CRLF after a chunk seen so far
  uint64_t body_bytes_ = 0;
  size_t chunk_count_ = 0;
  uint64_t max_chunk_bytes_ = 0;
  std::optional<uint64_t> mismatch_at_;
};

}  // namespace tidepool::loadgen

#endif  // TIDEPOOL_EXAMPLES_LOADGEN_RESPONSE_PARSER_H_
