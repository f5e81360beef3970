#include "examples/loadgen/payload.h"

#include <array>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace tidepool::loadgen {
namespace {

constexpr absl::string_view kBodyPrefix = "{\"prompt\": \"";
constexpr absl::string_view kBodySuffix = "\"}";
static_assert(kBodyPrefix.size() + kBodySuffix.size() == kMinBodyBytes);

constexpr std::array<absl::string_view, 32> kWords = {
    "the",   "a",     "model",  "token",  "runtime",  "async",  "worker",
    "queue", "tide",  "pool",   "stream", "reply",    "prompt", "alpha",
    "beta",  "gamma", "Kernel", "Socket", "io_uring", "x86",    "v2",
    "HTTP",  "JSON",  "epoll",  "of",     "and",      "is",     "to",
    "sched", "Arena", "wake",   "park"};
constexpr std::array<absl::string_view, 16> kPunctuation = {
    ",", ".", "!", "?", ";", ":", "(",   ")",
    "-", "'", "/", "+", "=", "#", "...", "->"};
constexpr std::array<absl::string_view, 6> kUtf8 = {
    "\xC3\xA9", "\xE6\x97\xA5\xE6\x9C\xAC", "\xE2\x80\x94", "na\xC3\xAFve",
    "\xCE\xA9", "\xF0\x9F\x8C\x8A"};
// Whitespace the tokenizer skips and JSON escapes, and the characters JSON
// must escape.
constexpr std::array<absl::string_view, 6> kEscaped = {"\n", "\t", "\r\n",
                                                       "\"", "\\", "\x01"};

// xorshift64*: fixed output for a seed on every platform.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed * 0x9E3779B97F4A7C15ull + 1) {}
  uint64_t Next() {
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    return state_ * 0x2545F4914F6CDD1Dull;
  }
  size_t Below(size_t n) { return static_cast<size_t>(Next() % n); }

 private:
  uint64_t state_;
};

// One piece of prompt text followed by its separator.
std::string NextPiece(Rng& rng) {
  std::string piece;
  const size_t kind = rng.Below(100);
  if (kind < 58) {
    piece = std::string(kWords[rng.Below(kWords.size())]);
  } else if (kind < 70) {
    piece = absl::StrCat(rng.Below(kind < 64 ? 100 : 1000000));
  } else if (kind < 82) {
    // Punctuation glued to a word, as in prose: "pool," "(queue".
    const absl::string_view p = kPunctuation[rng.Below(kPunctuation.size())];
    const absl::string_view w = kWords[rng.Below(kWords.size())];
    piece = rng.Below(2) == 0 ? absl::StrCat(w, p) : absl::StrCat(p, w);
  } else if (kind < 90) {
    piece = std::string(kUtf8[rng.Below(kUtf8.size())]);
  } else if (kind < 95) {
    const absl::string_view w = kWords[rng.Below(kWords.size())];
    piece = rng.Below(2) == 0 ? absl::StrCat("\"", w, "\"")
                              : absl::StrCat(w, "\\", w);
  } else {
    piece = std::string(kEscaped[rng.Below(kEscaped.size())]);
  }
  piece += rng.Below(8) == 0 ? "  " : " ";
  return piece;
}

}  // namespace

std::string JsonEscape(absl::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += "\\u00";
          out += kHex[(c >> 4) & 0xF];
          out += kHex[c & 0xF];
        } else {
          out += c;
        }
    }
  }
  return out;
}

absl::StatusOr<Payload> MakePayload(size_t body_bytes, uint64_t seed) {
  if (body_bytes < kMinBodyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("a body of ", body_bytes, " bytes is too small: {\"prompt",
                     "\": \"\"} alone is ", kMinBodyBytes));
  }
  const size_t escaped_bytes = body_bytes - kMinBodyBytes;
  Payload p;
  std::string escaped;
  escaped.reserve(escaped_bytes);
  p.prompt.reserve(escaped_bytes);
  Rng rng(seed);
  while (escaped.size() < escaped_bytes) {
    const std::string piece = NextPiece(rng);
    const std::string piece_escaped = JsonEscape(piece);
    if (escaped.size() + piece_escaped.size() > escaped_bytes) {
      // Spaces fill the last few bytes: they escape to themselves, and a
      // piece is never cut, so the UTF-8 stays valid.
      const size_t fill = escaped_bytes - escaped.size();
      escaped.append(fill, ' ');
      p.prompt.append(fill, ' ');
      break;
    }
    escaped += piece_escaped;
    p.prompt += piece;
  }
  p.body = absl::StrCat(kBodyPrefix, escaped, kBodySuffix);
  return p;
}

std::string MakeRequest(absl::string_view host, absl::string_view body,
                        bool close) {
  return absl::StrCat("POST /v1/generate HTTP/1.1\r\nHost: ", host,
                      close ? "\r\nConnection: close" : "",
                      "\r\nContent-Type: application/json\r\nContent-Length: ",
                      body.size(), "\r\n\r\n", body);
}

}  // namespace tidepool::loadgen
