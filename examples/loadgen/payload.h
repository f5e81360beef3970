#ifndef TIDEPOOL_EXAMPLES_LOADGEN_PAYLOAD_H_
#define TIDEPOOL_EXAMPLES_LOADGEN_PAYLOAD_H_

// The requests loadgen sends to the frontend's POST /v1/generate: a JSON
// body {"prompt": "..."} of an exact size in bytes, whose prompt is
// deterministic word-like text.
//
//   absl::StatusOr<Payload> p = MakePayload(/*body_bytes=*/1024, /*seed=*/1);
//   std::string wire = MakeRequest("127.0.0.1:8080", p->body);
//
// The prompt mixes words, numbers, punctuation, spaces, newlines and tabs,
// a few multi-byte UTF-8 characters, quotes and backslashes, and now and
// then a control byte, so the server's JSON unescaping (\" \\ \n \t \u0001)
// and its tokenizer both see every kind of input. Same (size, seed), same
// bytes, on every machine: the generator is a fixed xorshift, not <random>'s
// distributions, whose output is left to the library.

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tidepool::loadgen {

// {"prompt": ""} is the smallest body.
inline constexpr size_t kMinBodyBytes = 14;

struct Payload {
  std::string prompt;  // the decoded prompt (what the server tokenizes)
  std::string body;    // the JSON document, exactly the requested size
};

// A body of exactly `body_bytes` bytes (at least kMinBodyBytes, else
// InvalidArgument). Different seeds give different prompts.
absl::StatusOr<Payload> MakePayload(size_t body_bytes, uint64_t seed);

// `text` as the inside of a JSON string: " and \ escaped, \n \t \r \b \f by
// their short escapes, other bytes below 0x20 as \u00XX; everything else
// (UTF-8 included) as is.
std::string JsonEscape(absl::string_view text);

// The whole HTTP/1.1 request: request line, Host, Content-Type,
// Content-Length, and the body; with `close`, a "Connection: close" header
// after Host, so that the server ends the connection after its response.
std::string MakeRequest(absl::string_view host, absl::string_view body,
                        bool close = false);

}  // namespace tidepool::loadgen

#endif  // TIDEPOOL_EXAMPLES_LOADGEN_PAYLOAD_H_
