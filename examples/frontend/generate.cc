#include "examples/frontend/generate.h"

#include <charconv>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "simdjson.h"

namespace tidepool::frontend {
namespace {

constexpr uint32_t kFnvOffset = 2166136261u;
constexpr uint32_t kFnvPrime = 16777619u;

bool IsAsciiAlnum(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
         (c >= 'A' && c <= 'Z');
}

// The C locale's isspace, spelled out so no locale can change the protocol.
bool IsAsciiSpace(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
         c == '\v';
}

uint32_t Fnv1a(const unsigned char* p, size_t n) {
  uint32_t h = kFnvOffset;
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= kFnvPrime;
  }
  return h;
}

// Calls f(id) for each token of `prompt` in order: the one scanner behind
// Tokenize and Generate, so the two cannot drift apart.
template <typename F>
void ForEachTokenId(std::string_view prompt, F f) {
  const auto* p = reinterpret_cast<const unsigned char*>(prompt.data());
  const size_t n = prompt.size();
  size_t i = 0;
  while (i < n) {
    if (IsAsciiSpace(p[i])) {
      ++i;
      continue;
    }
    size_t begin = i;
    if (IsAsciiAlnum(p[i])) {
      while (i < n && IsAsciiAlnum(p[i])) ++i;
    } else {
      ++i;
    }
    f(Fnv1a(p + begin, i - begin) % kVocabularySize);
  }
}

// Rule 4, one id at a time, a line at a time: the ids of a line are
// formatted into a buffer on the stack and appended to the output once, as
// a std::string append per id costs more than the formatting.
class IdWriter {
 public:
  explicit IdWriter(std::string* out) : out_(out) {}
  IdWriter(const IdWriter&) = delete;  // line_end_ points into line_
  IdWriter& operator=(const IdWriter&) = delete;

  void Add(uint32_t id) {
    line_end_ = std::to_chars(line_end_, line_end_ + kMaxDigits, id).ptr;
    *line_end_++ = ' ';
    if (++on_line_ == kIdsPerLine) Flush();
  }

  void Finish() {
    if (on_line_ != 0) Flush();
  }

 private:
  // Any uint32_t (FormatIds takes any), though Tokenize's stay below
  // kVocabularySize.
  static constexpr size_t kMaxDigits = 10;

  void Flush() {
    *line_end_++ = '\n';
    out_->append(line_, line_end_ - line_);
    line_end_ = line_;
    on_line_ = 0;
  }

  std::string* out_;
  // Each id: its digits and a space; then the newline.
  char line_[kIdsPerLine * (kMaxDigits + 1) + 1];
  char* line_end_ = line_;
  size_t on_line_ = 0;
};

static_assert(kJsonPadding == simdjson::SIMDJSON_PADDING);

// Rule 1. The view points into `parser`'s memory. With kJsonPadding
// readable bytes after `body` it is parsed in place, else in a padded copy.
absl::StatusOr<std::string_view> FindPrompt(absl::string_view body,
                                            size_t readable_padding,
                                            simdjson::dom::parser& parser) {
  // The DOM parser validates the whole document, not only the part up to
  // "prompt", so a broken tail is an error here as it is for the peer.
  const bool in_place = readable_padding >= kJsonPadding;
  simdjson::dom::element doc;
  if (auto error =
          parser
              .parse(body.data(), body.size(), /*realloc_if_needed=*/!in_place)
              .get(doc);
      error) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid JSON: ", simdjson::error_message(error)));
  }
  simdjson::dom::object object;
  if (doc.get_object().get(object) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError("body is not a JSON object");
  }
  simdjson::dom::element prompt;
  if (object["prompt"].get(prompt) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError("missing \"prompt\"");
  }
  std::string_view text;
  if (prompt.get_string().get(text) != simdjson::SUCCESS) {
    return absl::InvalidArgumentError("\"prompt\" is not a string");
  }
  return text;
}

}  // namespace

uint32_t TokenId(absl::string_view token) {
  return Fnv1a(reinterpret_cast<const unsigned char*>(token.data()),
               token.size()) %
         kVocabularySize;
}

std::vector<uint32_t> Tokenize(absl::string_view prompt) {
  std::vector<uint32_t> ids;
  ForEachTokenId(std::string_view(prompt.data(), prompt.size()),
                 [&](uint32_t id) { ids.push_back(id); });
  return ids;
}

std::string FormatIds(const std::vector<uint32_t>& ids) {
  std::string out;
  IdWriter writer(&out);
  for (uint32_t id : ids) writer.Add(id);
  writer.Finish();
  return out;
}

absl::StatusOr<std::string> ExtractPrompt(absl::string_view body) {
  simdjson::dom::parser parser;
  absl::StatusOr<std::string_view> prompt =
      FindPrompt(body, /*readable_padding=*/0, parser);
  if (!prompt.ok()) return prompt.status();
  return std::string(*prompt);
}

absl::StatusOr<std::string> Generate(absl::string_view body,
                                     size_t readable_padding) {
  simdjson::dom::parser parser;
  absl::StatusOr<std::string_view> prompt =
      FindPrompt(body, readable_padding, parser);
  if (!prompt.ok()) return prompt.status();
  std::string out;
  // A token takes at least one byte of prompt and at most 6 bytes of output
  // plus a newline per 16; most prompts have far fewer tokens than bytes.
  out.reserve(prompt->size() * 2 + 16);
  IdWriter writer(&out);
  ForEachTokenId(*prompt, [&](uint32_t id) { writer.Add(id); });
  writer.Finish();
  return out;
}

std::vector<absl::string_view> SplitIntoChunks(absl::string_view text,
                                               size_t max_bytes) {
  std::vector<absl::string_view> chunks;
  if (max_bytes == 0) max_bytes = kMaxChunkBytes;
  chunks.reserve((text.size() + max_bytes - 1) / max_bytes);
  for (size_t i = 0; i < text.size(); i += max_bytes) {
    chunks.push_back(text.substr(i, max_bytes));
  }
  return chunks;
}

int HttpStatusFor(const absl::Status& status) {
  if (status.ok()) return 200;
  return status.code() == absl::StatusCode::kInvalidArgument ? 400 : 500;
}

}  // namespace tidepool::frontend
