#ifndef TIDEPOOL_EXAMPLES_FRONTEND_JSON_PROMPT_H_
#define TIDEPOOL_EXAMPLES_FRONTEND_JSON_PROMPT_H_

// Rule 1 of the generate protocol (generate.h) without building a document:
// FindPrompt validates the whole body as strict JSON (RFC 8259, UTF-8) in one
// pass and returns where the first top-level "prompt" string lies in it,
// still escaped; DecodeJsonString then yields its bytes. Nothing is
// allocated, so a request costs its body and its output, and nothing in
// proportion to the document: a DOM parser keeps a tape, an index and a
// string copy per document, about 14 times a 200 KiB prompt (3.2 MB).
//
// The grammar is RFC 8259's: objects, arrays, strings with the escapes
// \" \\ \/ \b \f \n \r \t \uXXXX (a surrogate only as a high-low pair),
// numbers as `-? int frac? exp?` (no range limit: only the syntax is
// checked, the values are never used), true, false, null; whitespace is
// space, \t, \n, \r. Every string must be valid UTF-8 (no overlong forms,
// no surrogates, nothing past U+10FFFF), and containers that hold something
// nest at most kMaxJsonNesting deep (an empty [] or {} opens nothing: the
// limit simdjson's DOM parser set for this protocol before). Keys compare
// after decoding ("pr\u006fmpt" is "prompt").
//
// Both functions are pure and may be called from any thread.
//
//   absl::StatusOr<JsonString> prompt = FindPrompt(body);
//   if (prompt.ok()) DecodeJsonString(*prompt, [&](absl::string_view bytes) {
//     ...  // consecutive pieces of the decoded prompt
//   });

#include <cstddef>
#include <cstring>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tidepool::frontend {

inline constexpr size_t kMaxJsonNesting = 1023;

// A JSON string's text between its quotes, validated, escapes not decoded.
struct JsonString {
  absl::string_view raw;
  bool has_escapes = false;
};

// The first value of key "prompt" in the top-level object of `body`, which
// must be a string. InvalidArgument, with the same message prefixes as
// before ("invalid JSON: ...", "body is not a JSON object", "missing
// \"prompt\"", "\"prompt\" is not a string"); a body that is not valid JSON
// is "invalid JSON" whatever else is wrong with it. `raw` points into
// `body`.
absl::StatusOr<JsonString> FindPrompt(absl::string_view body);

namespace internal {
// Writes the UTF-8 bytes of the escape at `p` (just after its backslash),
// which FindPrompt validated, to `out` (room for 4); returns how many, and
// moves `p` past the escape.
size_t DecodeEscape(const char*& p, char* out);
}  // namespace internal

// Calls `piece(absl::string_view)` with consecutive runs of the decoded
// bytes of `s`, a string FindPrompt returned; without escapes, once with
// `s.raw` itself. Only for a JsonString that FindPrompt returned: the
// decoder trusts its escapes to be whole and valid.
template <typename F>
void DecodeJsonString(const JsonString& s, F piece) {
  if (!s.has_escapes) {
    if (!s.raw.empty()) piece(s.raw);
    return;
  }
  const char* p = s.raw.data();
  const char* const end = p + s.raw.size();
  while (p < end) {
    const void* slash = std::memchr(p, '\\', end - p);
    const char* run_end = slash ? static_cast<const char*>(slash) : end;
    if (run_end > p) piece(absl::string_view(p, run_end - p));
    if (run_end == end) return;
    p = run_end + 1;
    char bytes[4];
    const size_t n = internal::DecodeEscape(p, bytes);
    piece(absl::string_view(bytes, n));
  }
}

}  // namespace tidepool::frontend

#endif  // TIDEPOOL_EXAMPLES_FRONTEND_JSON_PROMPT_H_
