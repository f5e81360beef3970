#include "examples/frontend/json_prompt.h"

#include <bit>
#include <bitset>
#include <cstdint>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace tidepool::frontend {
namespace {

int HexDigit(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The value of 4 hex digits at `p`, or -1 if any is not one (or `p` has
// fewer than 4 bytes before `end`).
int32_t Hex4(const unsigned char* p, const unsigned char* end) {
  if (end - p < 4) return -1;
  int32_t v = 0;
  for (int i = 0; i < 4; ++i) {
    const int d = HexDigit(p[i]);
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

bool IsHighSurrogate(int32_t cp) { return cp >= 0xD800 && cp <= 0xDBFF; }
bool IsLowSurrogate(int32_t cp) { return cp >= 0xDC00 && cp <= 0xDFFF; }
bool IsDigit(unsigned char c) { return c >= '0' && c <= '9'; }

// The byte a one-character escape (\" \\ \/ \b \f \n \r \t) stands for,
// given the character after the backslash; -1 for any other character
// (\u, which has its own rules, included). The validator and the decoder
// both read the escapes from here.
int SimpleEscape(unsigned char c) {
  switch (c) {
    case '"':
    case '\\':
    case '/':
      return c;
    case 'b':
      return '\b';
    case 'f':
      return '\f';
    case 'n':
      return '\n';
    case 'r':
      return '\r';
    case 't':
      return '\t';
    default:
      return -1;
  }
}

// One pass over the body. The containers open around the current position
// are a stack of bits (object or array), so nesting costs no recursion and
// no allocation.
class Scanner {
 public:
  explicit Scanner(absl::string_view body)
      : begin_(reinterpret_cast<const unsigned char*>(body.data())),
        p_(begin_),
        end_(begin_ + body.size()) {}

  absl::StatusOr<JsonString> Run();

 private:
  // What the scanner expects next.
  enum class Expect { kValue, kAfterValue, kKey };

  void SkipSpace() {
    while (p_ < end_ &&
           (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) {
      ++p_;
    }
  }
  bool Fail(absl::string_view what) {
    if (error_.empty()) {
      error_ = what;
      error_at_ = static_cast<size_t>(p_ - begin_);
    }
    return false;
  }
  bool Value(Expect* next);
  bool AfterValue(Expect* next);
  bool Key();
  bool String(JsonString* out);
  bool Escape();
  bool Utf8Sequence();
  bool Number();
  bool Literal(absl::string_view word);

  const unsigned char* const begin_;
  const unsigned char* p_;
  const unsigned char* const end_;
  std::bitset<kMaxJsonNesting> in_object_;
  size_t depth_ = 0;
  // Set by Key() at depth 1 for the first "prompt" key: the next value is
  // the prompt.
  bool prompt_next_ = false;
  bool prompt_seen_ = false;
  bool prompt_is_string_ = false;
  JsonString prompt_;
  absl::string_view error_;
  size_t error_at_ = 0;
};

absl::StatusOr<JsonString> Scanner::Run() {
  SkipSpace();
  const bool top_is_object = p_ < end_ && *p_ == '{';
  Expect next = Expect::kValue;
  bool ok = true;
  while (ok) {
    switch (next) {
      case Expect::kValue:
        ok = Value(&next);
        break;
      case Expect::kAfterValue:
        if (depth_ == 0) {
          SkipSpace();
          ok = p_ == end_ || Fail("unexpected bytes after the document");
          if (ok) {
            if (!top_is_object) {
              return absl::InvalidArgumentError("body is not a JSON object");
            }
            if (!prompt_seen_) {
              return absl::InvalidArgumentError("missing \"prompt\"");
            }
            if (!prompt_is_string_) {
              return absl::InvalidArgumentError("\"prompt\" is not a string");
            }
            return prompt_;
          }
          break;
        }
        ok = AfterValue(&next);
        break;
      case Expect::kKey:
        ok = Key();
        next = Expect::kValue;
        break;
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("invalid JSON: ", error_, " at byte ", error_at_));
}

bool Scanner::Value(Expect* next) {
  SkipSpace();
  if (p_ == end_) return Fail("unexpected end");
  const bool is_prompt = prompt_next_;
  prompt_next_ = false;
  *next = Expect::kAfterValue;
  switch (*p_) {
    case '{':
    case '[': {
      const bool object = *p_ == '{';
      ++p_;
      SkipSpace();
      // An empty container is a complete value and opens nothing.
      if (p_ < end_ && *p_ == (object ? '}' : ']')) {
        ++p_;
        return true;
      }
      if (depth_ == kMaxJsonNesting) return Fail("nested too deep");
      in_object_[depth_++] = object;
      *next = object ? Expect::kKey : Expect::kValue;
      return true;
    }
    case '"': {
      JsonString s;
      if (!String(&s)) return false;
      if (is_prompt) {
        prompt_ = s;
        prompt_is_string_ = true;
      }
      return true;
    }
    case 't':
      return Literal("true");
    case 'f':
      return Literal("false");
    case 'n':
      return Literal("null");
    default:
      if (*p_ == '-' || IsDigit(*p_)) return Number();
      return Fail("unexpected character");
  }
}

bool Scanner::AfterValue(Expect* next) {
  SkipSpace();
  if (p_ == end_) return Fail("unexpected end");
  const bool object = in_object_[depth_ - 1];
  if (*p_ == ',') {
    ++p_;
    *next = object ? Expect::kKey : Expect::kValue;
    return true;
  }
  if (*p_ == (object ? '}' : ']')) {
    ++p_;
    --depth_;
    *next = Expect::kAfterValue;
    return true;
  }
  return Fail(object ? "expected ',' or '}'" : "expected ',' or ']'");
}

bool Scanner::Key() {
  SkipSpace();
  if (p_ == end_ || *p_ != '"') return Fail("expected a string key");
  JsonString key;
  if (!String(&key)) return false;
  SkipSpace();
  if (p_ == end_ || *p_ != ':') return Fail("expected ':'");
  ++p_;
  if (depth_ == 1 && !prompt_seen_) {
    // Compared decoded: an escaped spelling of "prompt" is "prompt".
    constexpr absl::string_view kPrompt = "prompt";
    size_t matched = 0;
    bool same = true;
    DecodeJsonString(key, [&](absl::string_view piece) {
      same = same && matched + piece.size() <= kPrompt.size() &&
             kPrompt.substr(matched, piece.size()) == piece;
      matched += piece.size();
    });
    if (same && matched == kPrompt.size()) {
      prompt_seen_ = true;
      prompt_next_ = true;
    }
  }
  return true;
}

// Where in the 8 bytes of `w` (loaded little-endian) the first byte that
// ends a run of plain string bytes is: a quote, a backslash, a control byte
// (below 0x20) or a non-ASCII byte; 8 if none. The zero-byte test
// ((x - 0x01..) & ~x & 0x80..) may also flag bytes after a true hit (a
// borrow carries upwards), never before one, so its lowest flag is exact.
static_assert(std::endian::native == std::endian::little,
              "FirstSpecialByte reads the first byte as the lowest");
int FirstSpecialByte(uint64_t w) {
  constexpr uint64_t kOnes = 0x0101010101010101ull;
  constexpr uint64_t kHighs = 0x8080808080808080ull;
  auto zero_bytes = [](uint64_t x) { return (x - kOnes) & ~x & kHighs; };
  const uint64_t below_space = (w - kOnes * 0x20) & ~w & kHighs;
  const uint64_t special = (w & kHighs) | below_space |
                           zero_bytes(w ^ (kOnes * '"')) |
                           zero_bytes(w ^ (kOnes * '\\'));
  return special == 0 ? 8 : __builtin_ctzll(special) / 8;
}

bool Scanner::String(JsonString* out) {
  ++p_;  // the opening quote
  const unsigned char* const start = p_;
  bool escapes = false;
  while (p_ < end_) {
    // Plain ASCII text 8 bytes at a time, up to the first other byte.
    while (end_ - p_ >= 8) {
      uint64_t w;
      std::memcpy(&w, p_, sizeof(w));
      const int plain = FirstSpecialByte(w);
      p_ += plain;
      if (plain < 8) break;
    }
    if (p_ == end_) break;
    const unsigned char c = *p_;
    if (c == '"') {
      out->raw = absl::string_view(reinterpret_cast<const char*>(start),
                                   static_cast<size_t>(p_ - start));
      out->has_escapes = escapes;
      ++p_;
      return true;
    }
    if (c == '\\') {
      escapes = true;
      if (!Escape()) return false;
    } else if (c < 0x20) {
      return Fail("control character in a string");
    } else if (c < 0x80) {
      ++p_;
    } else if (!Utf8Sequence()) {
      return false;
    }
  }
  return Fail("unterminated string");
}

bool Scanner::Escape() {
  ++p_;  // the backslash
  if (p_ == end_) return Fail("unterminated string");
  if (SimpleEscape(*p_) >= 0) {
    ++p_;
    return true;
  }
  if (*p_ != 'u') return Fail("invalid escape");
  const int32_t cp = Hex4(p_ + 1, end_);
  if (cp < 0) return Fail("invalid \\u escape");
  p_ += 5;
  if (IsLowSurrogate(cp)) return Fail("unpaired surrogate");
  if (!IsHighSurrogate(cp)) return true;
  if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u' ||
      !IsLowSurrogate(Hex4(p_ + 2, end_))) {
    return Fail("unpaired surrogate");
  }
  p_ += 6;
  return true;
}

// A multi-byte UTF-8 sequence starting at p_ (a byte >= 0x80), by the table
// of RFC 3629 section 4: the lead byte fixes the length and the range of the
// second byte, which excludes overlong forms, UTF-16 surrogates and code
// points past U+10FFFF.
bool Scanner::Utf8Sequence() {
  const unsigned char c = *p_;
  size_t tail;
  unsigned char low = 0x80;
  unsigned char high = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    tail = 1;
  } else if (c == 0xE0) {
    tail = 2;
    low = 0xA0;
  } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
    tail = 2;
  } else if (c == 0xED) {
    tail = 2;
    high = 0x9F;
  } else if (c == 0xF0) {
    tail = 3;
    low = 0x90;
  } else if (c >= 0xF1 && c <= 0xF3) {
    tail = 3;
  } else if (c == 0xF4) {
    tail = 3;
    high = 0x8F;
  } else {
    return Fail("invalid UTF-8");
  }
  if (static_cast<size_t>(end_ - p_) <= tail || p_[1] < low || p_[1] > high) {
    return Fail("invalid UTF-8");
  }
  for (size_t i = 2; i <= tail; ++i) {
    if ((p_[i] & 0xC0) != 0x80) return Fail("invalid UTF-8");
  }
  p_ += tail + 1;
  return true;
}

bool Scanner::Number() {
  if (*p_ == '-') ++p_;
  if (p_ == end_) return Fail("invalid number");
  if (*p_ == '0') {
    ++p_;
  } else if (IsDigit(*p_)) {
    while (p_ < end_ && IsDigit(*p_)) ++p_;
  } else {
    return Fail("invalid number");
  }
  if (p_ < end_ && *p_ == '.') {
    ++p_;
    if (p_ == end_ || !IsDigit(*p_)) return Fail("invalid number");
    while (p_ < end_ && IsDigit(*p_)) ++p_;
  }
  if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
    ++p_;
    if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
    if (p_ == end_ || !IsDigit(*p_)) return Fail("invalid number");
    while (p_ < end_ && IsDigit(*p_)) ++p_;
  }
  return true;
}

bool Scanner::Literal(absl::string_view word) {
  if (static_cast<size_t>(end_ - p_) < word.size() ||
      std::memcmp(p_, word.data(), word.size()) != 0) {
    return Fail("unexpected character");
  }
  p_ += word.size();
  return true;
}

// Appends code point `cp` (at most U+10FFFF, no surrogate) as UTF-8.
size_t EncodeUtf8(uint32_t cp, char* out) {
  if (cp < 0x80) {
    out[0] = static_cast<char>(cp);
    return 1;
  }
  if (cp < 0x800) {
    out[0] = static_cast<char>(0xC0 | (cp >> 6));
    out[1] = static_cast<char>(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = static_cast<char>(0xE0 | (cp >> 12));
    out[1] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out[2] = static_cast<char>(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = static_cast<char>(0xF0 | (cp >> 18));
  out[1] = static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
  out[2] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
  out[3] = static_cast<char>(0x80 | (cp & 0x3F));
  return 4;
}

}  // namespace

absl::StatusOr<JsonString> FindPrompt(absl::string_view body) {
  return Scanner(body).Run();
}

namespace internal {

size_t DecodeEscape(const char*& p, char* out) {
  const int simple = SimpleEscape(static_cast<unsigned char>(*p++));
  if (simple >= 0) {
    out[0] = static_cast<char>(simple);
    return 1;
  }
  // \u: FindPrompt let nothing else through.
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  uint32_t cp = static_cast<uint32_t>(Hex4(u, u + 4));
  p += 4;
  if (IsHighSurrogate(static_cast<int32_t>(cp))) {
    const uint32_t low = static_cast<uint32_t>(Hex4(u + 6, u + 10));
    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    p += 6;
  }
  return EncodeUtf8(cp, out);
}

}  // namespace internal
}  // namespace tidepool::frontend
