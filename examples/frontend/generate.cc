#include "examples/frontend/generate.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <string_view>
#include <utility>

#include "examples/frontend/json_prompt.h"

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

// One byte of FNV-1a 32 (rule 3): every hash here is built from this step,
// starting at kFnvOffset.
constexpr uint32_t FnvStep(uint32_t h, unsigned char c) {
  return (h ^ c) * kFnvPrime;
}

uint32_t Fnv1a(const unsigned char* p, size_t n) {
  uint32_t h = kFnvOffset;
  for (size_t i = 0; i < n; ++i) h = FnvStep(h, p[i]);
  return h;
}

// The id of each one-byte token (rule 3), computed at compile time: the
// scanner looks up punctuation and UTF-8 bytes instead of hashing them.
constexpr std::array<uint32_t, 256> MakeSingleByteIds() {
  std::array<uint32_t, 256> ids{};
  for (uint32_t c = 0; c < 256; ++c) {
    ids[c] =
        FnvStep(kFnvOffset, static_cast<unsigned char>(c)) % kVocabularySize;
  }
  return ids;
}
constexpr std::array<uint32_t, 256> kSingleByteIds = MakeSingleByteIds();

// Rules 2 and 3 over a prompt that arrives in pieces (a decoded JSON string
// comes in runs between its escapes): calls emit(id) for each token, in
// order, the one scanner behind Tokenize and Generate, so the two cannot
// drift apart. A token may span pieces.
template <typename F>
class TokenScanner {
 public:
  explicit TokenScanner(F emit) : emit_(std::move(emit)) {}

  void Feed(std::string_view piece) {
    const auto* p = reinterpret_cast<const unsigned char*>(piece.data());
    const size_t n = piece.size();
    size_t i = 0;
    while (i < n) {
      if (in_word_) {
        while (i < n && IsAsciiAlnum(p[i])) hash_ = FnvStep(hash_, p[i++]);
        if (i == n) return;
        emit_(hash_ % kVocabularySize);
        in_word_ = false;
      }
      const unsigned char c = p[i++];
      if (IsAsciiAlnum(c)) {
        in_word_ = true;
        hash_ = FnvStep(kFnvOffset, c);
      } else if (!IsAsciiSpace(c)) {
        emit_(kSingleByteIds[c]);
      }
    }
  }

  // The prompt ended: a word still open is a token.
  void Finish() {
    if (in_word_) emit_(hash_ % kVocabularySize);
    in_word_ = false;
  }

 private:
  F emit_;
  bool in_word_ = false;
  uint32_t hash_ = 0;
};

// Rule 4, one id at a time, a line at a time: the ids of a line are
// formatted into a buffer on the stack and appended to the output once, as
// a std::string append per id costs more than the formatting.
// `Out` has Append(const char*, size_t).
template <typename Out>
class IdWriter {
 public:
  explicit IdWriter(Out out) : out_(out) {}
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
    out_.Append(line_, line_end_ - line_);
    line_end_ = line_;
    on_line_ = 0;
  }

  Out out_;
  // Each id: its digits and a space; then the newline.
  char line_[kIdsPerLine * (kMaxDigits + 1) + 1];
  char* line_end_ = line_;
  size_t on_line_ = 0;
};

// IdWriter's output into one string.
struct StringOut {
  std::string* out;
  void Append(const char* p, size_t n) { out->append(p, n); }
};

// IdWriter's output into TokenText's blocks, each filled to exactly
// kTextBlockBytes before the next starts. The first block is sized by the
// caller's estimate, the others whole.
struct BlockOut {
  TokenText* text;
  size_t first_block_bytes;
  void Append(const char* p, size_t n) {
    while (n > 0) {
      std::vector<std::string>& blocks = text->blocks;
      if (blocks.empty() || blocks.back().size() == kTextBlockBytes) {
        blocks.emplace_back();
        blocks.back().reserve(blocks.size() == 1 ? first_block_bytes
                                                 : kTextBlockBytes);
      }
      std::string& block = blocks.back();
      const size_t take = std::min(n, kTextBlockBytes - block.size());
      if (block.size() + take > block.capacity()) {
        block.reserve(kTextBlockBytes);
      }
      block.append(p, take);
      p += take;
      n -= take;
    }
  }
};

}  // namespace

uint32_t TokenId(absl::string_view token) {
  return Fnv1a(reinterpret_cast<const unsigned char*>(token.data()),
               token.size()) %
         kVocabularySize;
}

std::vector<uint32_t> Tokenize(absl::string_view prompt) {
  std::vector<uint32_t> ids;
  TokenScanner scanner([&](uint32_t id) { ids.push_back(id); });
  scanner.Feed(std::string_view(prompt.data(), prompt.size()));
  scanner.Finish();
  return ids;
}

std::string FormatIds(const std::vector<uint32_t>& ids) {
  std::string out;
  IdWriter writer(StringOut{&out});
  for (uint32_t id : ids) writer.Add(id);
  writer.Finish();
  return out;
}

size_t TokenText::size() const {
  size_t n = 0;
  for (const std::string& block : blocks) n += block.size();
  return n;
}

std::string TokenText::Join() const {
  std::string out;
  out.reserve(size());
  for (const std::string& block : blocks) out += block;
  return out;
}

absl::StatusOr<std::string> ExtractPrompt(absl::string_view body) {
  absl::StatusOr<JsonString> prompt = FindPrompt(body);
  if (!prompt.ok()) return prompt.status();
  std::string out;
  DecodeJsonString(*prompt, [&](absl::string_view piece) {
    out.append(piece.data(), piece.size());
  });
  return out;
}

absl::StatusOr<TokenText> GenerateText(absl::string_view body) {
  absl::StatusOr<JsonString> prompt = FindPrompt(body);
  if (!prompt.ok()) return prompt.status();
  TokenText text;
  // A token takes at least one byte of prompt and at most 6 bytes of output
  // plus a newline per 16; most prompts have far fewer tokens than bytes.
  IdWriter writer(
      BlockOut{&text, std::min(kTextBlockBytes, prompt->raw.size() * 2 + 16)});
  TokenScanner scanner([&](uint32_t id) { writer.Add(id); });
  DecodeJsonString(*prompt, [&](absl::string_view piece) {
    scanner.Feed(std::string_view(piece.data(), piece.size()));
  });
  scanner.Finish();
  writer.Finish();
  return text;
}

absl::StatusOr<std::string> Generate(absl::string_view body) {
  absl::StatusOr<TokenText> text = GenerateText(body);
  if (!text.ok()) return text.status();
  return text->Join();
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
