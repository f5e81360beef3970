#ifndef TIDEPOOL_EXAMPLES_FRONTEND_GENERATE_H_
#define TIDEPOOL_EXAMPLES_FRONTEND_GENERATE_H_

// The frontend's per-request work for POST /v1/generate, as a pure function
// of the request body. The tokio peer of the frontend benchmark does the same
// work byte for byte, so every rule below is part of the protocol:
//
//   1. The body is a JSON object with a string field "prompt"; other fields
//      are ignored; if "prompt" appears twice the first counts. Invalid JSON
//      (including invalid UTF-8), a non-object, a missing prompt or a
//      non-string prompt is InvalidArgument (400). Numbers are checked for
//      their syntax only, and containers nest up to 1023 deep
//      (json_prompt.h). The peer's serde_json answers 400 to three kinds of
//      body this rule accepts, none of which the load generator sends: a
//      number it cannot hold (1e400), nesting deeper than 128, and a
//      repeated "prompt".
//   2. The prompt's bytes are split into tokens: a maximal run of ASCII
//      letters and digits, or any single other byte that is not ASCII
//      whitespace (space, \t, \n, \r, \f, \v); whitespace only separates.
//   3. A token's id is the FNV-1a 32-bit hash of its bytes modulo 50257.
//   4. The output is each id in decimal followed by one space, with "\n"
//      after every 16th id and after the last id if its line is unfinished.
//      An empty prompt gives empty output.
//   5. The server sends the output as a chunked text/plain response in
//      pieces of kMaxChunkBytes, the last one shorter (SplitIntoChunks).
//
// Example: {"prompt": "Hi, you"} has tokens "Hi" "," "you" and produces
// "6215 18964 13929 \n".
//
// The server calls Generate in spawn_blocking, since it is CPU work linear in
// the body size: one pass that validates the JSON and finds the prompt where
// it lies in the body (json_prompt.h: nothing allocated in proportion to
// the document), one pass over the prompt that decodes its escapes and
// tokenizes, and output of about 6 bytes per token, in blocks
// (GenerateText). Memory per call: the output.
//
//   absl::StatusOr<TokenText> text = GenerateText(body);
//   if (!text.ok()) return Reply(HttpStatusFor(text.status()));
//   for (const std::string& block : text->blocks)
//     for (absl::string_view piece : SplitIntoChunks(block)) Send(piece);

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tidepool::frontend {

inline constexpr size_t kMaxChunkBytes = 4096;
inline constexpr uint32_t kVocabularySize = 50257;
inline constexpr size_t kIdsPerLine = 16;
// Every block of a TokenText but the last holds exactly this many bytes, a
// multiple of kMaxChunkBytes, so that the response's chunks (rule 5) are
// the chunks of its blocks.
inline constexpr size_t kTextBlockBytes = 16 * kMaxChunkBytes;

// A response body in blocks. A long one grows a block at a time and is never
// copied, so a request holds its output and less than one block more; a
// sender may free each block once it is written.
struct TokenText {
  std::vector<std::string> blocks;
  // Bytes in all blocks.
  size_t size() const;
  // The blocks in one string (a copy).
  std::string Join() const;
};

// The whole response body for a request body: rules 1 to 4.
absl::StatusOr<TokenText> GenerateText(absl::string_view body);
// The same in one string.
absl::StatusOr<std::string> Generate(absl::string_view body);

// Rule 1 alone: the decoded prompt (UTF-8 bytes).
absl::StatusOr<std::string> ExtractPrompt(absl::string_view body);

// Rules 2 and 3: the token ids of a prompt, in order.
std::vector<uint32_t> Tokenize(absl::string_view prompt);

// Rule 3 for one token.
uint32_t TokenId(absl::string_view token);

// Rule 4: the text for a list of ids.
std::string FormatIds(const std::vector<uint32_t>& ids);

// Rule 5: `text` cut into consecutive pieces of `max_bytes` (more than
// zero), the last one shorter; no pieces for empty text. The pieces point
// into `text`.
std::vector<absl::string_view> SplitIntoChunks(
    absl::string_view text, size_t max_bytes = kMaxChunkBytes);

// The HTTP status for a Generate error: 400 for InvalidArgument, 500 for
// anything else (none today).
int HttpStatusFor(const absl::Status& status);

}  // namespace tidepool::frontend

#endif  // TIDEPOOL_EXAMPLES_FRONTEND_GENERATE_H_
