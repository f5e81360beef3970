#include "examples/frontend/http/request_parser.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <utility>

namespace tidepool::frontend::http {
namespace {

// A connection keeps at most this much buffer between requests, so that one
// large body does not pin megabytes to an idle keep-alive connection.
constexpr size_t kRetainedCapacity = 16 * 1024;
constexpr size_t kMinCapacity = 4096;
// Room beyond the current request's end that a growing buffer may take, so
// the last read of a body neither reallocates twice nor doubles the buffer.
constexpr size_t kReadSlack = 4096;

// RFC 9110 5.6.2: tchar.
bool IsTchar(unsigned char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
      (c >= 'A' && c <= 'Z')) {
    return true;
  }
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

bool IsToken(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsTchar(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// RFC 9110 5.5: field-vchar (VCHAR or obs-text), SP and HTAB. Everything
// else is a control byte that a strict recipient rejects.
bool IsFieldValueByte(unsigned char c) {
  return c == ' ' || c == '\t' || (c >= 0x21 && c != 0x7f);
}

bool IsOws(char c) { return c == ' ' || c == '\t'; }

absl::string_view TrimOws(absl::string_view s) {
  size_t b = 0;
  size_t e = s.size();
  while (b < e && IsOws(s[b])) ++b;
  while (e > b && IsOws(s[e - 1])) --e;
  return s.substr(b, e - b);
}

char AsciiLower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool EqualsIgnoreCase(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (AsciiLower(a[i]) != AsciiLower(b[i])) return false;
  }
  return true;
}

// Calls f on each member of a comma-separated field value (RFC 9110 5.6.1),
// trimmed; empty members included, since Content-Length must reject them.
template <typename F>
void ForEachListMember(absl::string_view value, F f) {
  for (;;) {
    const void* comma =
        value.empty() ? nullptr : std::memchr(value.data(), ',', value.size());
    if (comma == nullptr) {
      f(TrimOws(value));
      return;
    }
    size_t n = static_cast<const char*>(comma) - value.data();
    f(TrimOws(value.substr(0, n)));
    value.remove_prefix(n + 1);
  }
}

bool Contains(absl::string_view s, char c) {
  return !s.empty() && std::memchr(s.data(), c, s.size()) != nullptr;
}

}  // namespace

std::optional<absl::string_view> RequestHead::Find(
    absl::string_view name) const {
  for (const Field& f : headers_) {
    if (EqualsIgnoreCase(View(f.name), name)) return View(f.value);
  }
  return std::nullopt;
}

RequestParser::RequestParser(ParserLimits limits) : limits_(limits) {
  // Head offsets are 32 bits wide.
  limits_.max_head_bytes = std::min<size_t>(
      limits_.max_head_bytes, std::numeric_limits<uint32_t>::max());
}

void RequestParser::Reserve(size_t free_bytes) {
  if (capacity_ - size_ >= free_bytes) return;
  size_t live = size_ - start_;
  if (capacity_ - live >= free_bytes) {
    std::memmove(data_.get(), data_.get() + start_, live);
    start_ = 0;
    size_ = live;
    return;
  }
  size_t needed = live + free_bytes;
  size_t target = std::max({needed, 2 * capacity_, kMinCapacity});
  if (state_ == State::kBody) {
    // The request's size is known: grow to it rather than past it.
    size_t request_end = head_size_ + head_.content_length_ + kReadSlack;
    target = std::max(needed, std::min(target, request_end));
  }
  std::unique_ptr<char[]> grown(new char[target]);
  if (live > 0) std::memcpy(grown.get(), data_.get() + start_, live);
  data_ = std::move(grown);
  capacity_ = target;
  start_ = 0;
  size_ = live;
}

void RequestParser::Feed(absl::string_view bytes) {
  if (bytes.empty()) return;
  Reserve(bytes.size());
  std::memcpy(data_.get() + size_, bytes.data(), bytes.size());
  size_ += bytes.size();
}

absl::Span<char> RequestParser::PrepareFeed(size_t min_bytes) {
  Reserve(std::max<size_t>(min_bytes, 1));
  return absl::Span<char>(data_.get() + size_, capacity_ - size_);
}

void RequestParser::CommitFeed(size_t n) {
  size_ += std::min(n, capacity_ - size_);
}

RequestParser::OwnedBody RequestParser::TakeBody() {
  if (state_ != State::kDone || body_taken_) return OwnedBody();
  const size_t end = start_ + request_bytes();
  const size_t rest = size_ - end;
  const size_t body_begin = start_ + head_size_;
  OwnedBody out{std::move(data_), body_begin, head_.content_length_};
  DropBuffer();
  if (rest > 0) {
    Reserve(rest);
    std::memcpy(data_.get(), out.buffer.get() + end, rest);
    size_ = rest;
  }
  body_taken_ = true;
  return out;
}

void RequestParser::DropBuffer() {
  data_.reset();
  capacity_ = 0;
  start_ = 0;
  size_ = 0;
}

void RequestParser::ReleaseIdleBuffer() {
  if (buffered_bytes() != 0 || state_ != State::kHead) return;
  DropBuffer();
  head_ = RequestHead();
  pending_ = RequestHead();
}

absl::string_view RequestParser::body() const {
  if (state_ != State::kDone || body_taken_) return absl::string_view();
  return absl::string_view(data_.get() + start_ + head_size_,
                           head_.content_length_);
}

bool RequestParser::HasPartialRequest() const {
  switch (state_) {
    case State::kHead:
      return size_ > start_;
    case State::kBody:
    case State::kError:
      return true;
    case State::kDone:
      return buffered_bytes() > (body_taken_ ? 0 : request_bytes());
  }
  return false;
}

size_t RequestParser::request_bytes() const {
  if (state_ != State::kBody && state_ != State::kDone) return 0;
  return head_size_ + head_.content_length_;
}

ParseEvent RequestParser::Fail(int status, absl::string_view reason) {
  state_ = State::kError;
  error_ = ParseError{status, reason};
  return ParseEvent::kError;
}

ParseEvent RequestParser::Next() {
  switch (state_) {
    case State::kError:
      return ParseEvent::kError;
    case State::kDone:
      StartNextRequest();
      return ParseHead();
    case State::kHead:
      return ParseHead();
    case State::kBody:
      if (buffered_bytes() - head_size_ >= head_.content_length_) {
        state_ = State::kDone;
        return ParseEvent::kRequest;
      }
      return ParseEvent::kNeedMore;
  }
  return ParseEvent::kError;
}

void RequestParser::StartNextRequest() {
  if (!body_taken_) start_ += request_bytes();
  body_taken_ = false;
  state_ = State::kHead;
  line_begin_ = 0;
  scanned_ = 0;
  seen_request_line_ = false;
  head_size_ = 0;
  pending_.headers_.clear();

  size_t live = size_ - start_;
  if (live == 0) {
    start_ = 0;
    size_ = 0;
  }
  if (capacity_ > kRetainedCapacity && live <= kRetainedCapacity) {
    if (live == 0) {
      DropBuffer();
    } else {
      std::unique_ptr<char[]> shrunk(new char[kRetainedCapacity]);
      std::memcpy(shrunk.get(), data_.get() + start_, live);
      data_ = std::move(shrunk);
      capacity_ = kRetainedCapacity;
      start_ = 0;
      size_ = live;
    }
  }
}

ParseEvent RequestParser::ParseHead() {
  for (;;) {
    const char* base = data_.get() + start_;
    size_t live = size_ - start_;
    // Whether a head is too long must not depend on how its bytes were
    // split, so the limit is judged per line: by the line's end if it has
    // one, else by the bytes buffered so far.
    size_t from = std::max(scanned_, line_begin_);
    const void* lf =
        from < live ? std::memchr(base + from, '\n', live - from) : nullptr;
    if (lf == nullptr) {
      scanned_ = live;
      if (live > limits_.max_head_bytes) {
        return Fail(431, "request head too large");
      }
      return ParseEvent::kNeedMore;
    }
    size_t lf_pos = static_cast<const char*>(lf) - base;
    if (lf_pos + 1 > limits_.max_head_bytes) {
      return Fail(431, "request head too large");
    }
    // RFC 9112 2.2 lets a recipient accept a bare LF; this one does not, so
    // no two parsers on a request's path can disagree where a line ends.
    if (lf_pos == line_begin_ || base[lf_pos - 1] != '\r') {
      return Fail(400, "bare LF in request head");
    }
    size_t offset = line_begin_;
    absl::string_view line(base + offset, lf_pos - 1 - offset);
    line_begin_ = lf_pos + 1;
    scanned_ = line_begin_;
    if (Contains(line, '\r')) return Fail(400, "bare CR in request head");

    if (!seen_request_line_) {
      // RFC 9112 2.2: a server SHOULD ignore empty lines before the request
      // line (some clients send CRLF after a POST body).
      if (line.empty()) continue;
      if (!ParseRequestLine(line, offset)) return ParseEvent::kError;
      seen_request_line_ = true;
      continue;
    }
    if (line.empty()) {
      head_size_ = line_begin_;
      if (!FinishHead()) return ParseEvent::kError;
      state_ = State::kBody;
      return ParseEvent::kHead;
    }
    if (!ParseHeaderLine(line, offset)) return ParseEvent::kError;
  }
}

bool RequestParser::ParseRequestLine(absl::string_view line, size_t offset) {
  // RFC 9112 3: method SP request-target SP HTTP-version, single spaces.
  const void* sp1 = std::memchr(line.data(), ' ', line.size());
  if (sp1 == nullptr) {
    Fail(400, "malformed request line");
    return false;
  }
  size_t method_end = static_cast<const char*>(sp1) - line.data();
  absl::string_view rest = line.substr(method_end + 1);
  const void* sp2 =
      rest.empty() ? nullptr : std::memchr(rest.data(), ' ', rest.size());
  if (sp2 == nullptr) {
    Fail(400, "malformed request line");
    return false;
  }
  size_t target_end = static_cast<const char*>(sp2) - rest.data();
  absl::string_view method = line.substr(0, method_end);
  absl::string_view target = rest.substr(0, target_end);
  absl::string_view version = rest.substr(target_end + 1);
  if (method.empty() || target.empty() || Contains(version, ' ')) {
    Fail(400, "malformed request line");
    return false;
  }
  if (!IsToken(method)) {
    Fail(400, "bad method");
    return false;
  }
  for (char c : target) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x21 || u > 0x7e) {
      Fail(400, "bad request target");
      return false;
    }
  }
  // RFC 9112 2.3: HTTP-version = "HTTP" "/" DIGIT "." DIGIT, case-sensitive.
  auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" ||
      !is_digit(version[5]) || version[6] != '.' || !is_digit(version[7])) {
    Fail(400, "bad HTTP version");
    return false;
  }
  if (version[5] != '1') {
    Fail(505, "HTTP version not supported");
    return false;
  }
  pending_.method_ = {static_cast<uint32_t>(offset),
                      static_cast<uint32_t>(method.size())};
  pending_.target_ = {static_cast<uint32_t>(offset + method_end + 1),
                      static_cast<uint32_t>(target.size())};
  pending_.version_ = version[7] == '0' ? Version::kHttp10 : Version::kHttp11;
  return true;
}

bool RequestParser::ParseHeaderLine(absl::string_view line, size_t offset) {
  // RFC 9112 5.2: obs-fold in a request is 400; so is whitespace before the
  // first field (2.2), which is the same test.
  if (IsOws(line[0])) {
    Fail(400, "obsolete line folding");
    return false;
  }
  const void* colon = std::memchr(line.data(), ':', line.size());
  if (colon == nullptr) {
    Fail(400, "header line without colon");
    return false;
  }
  size_t name_size = static_cast<const char*>(colon) - line.data();
  // RFC 9112 5.1: whitespace between name and colon is 400, and it fails
  // the token test here.
  if (!IsToken(line.substr(0, name_size))) {
    Fail(400, "bad header name");
    return false;
  }
  absl::string_view value = TrimOws(line.substr(name_size + 1));
  for (char c : value) {
    if (!IsFieldValueByte(static_cast<unsigned char>(c))) {
      Fail(400, "bad header value");
      return false;
    }
  }
  size_t value_begin = value.data() - line.data();
  pending_.headers_.push_back(
      {{static_cast<uint32_t>(offset), static_cast<uint32_t>(name_size)},
       {static_cast<uint32_t>(offset + value_begin),
        static_cast<uint32_t>(value.size())}});
  return true;
}

bool RequestParser::FinishHead() {
  pending_.raw_.assign(data_.get() + start_, head_size_);
  const bool http11 = pending_.version_ == Version::kHttp11;

  int hosts = 0;
  bool transfer_encoding = false;
  bool has_length = false;
  uint64_t length = 0;
  absl::string_view length_error;
  bool close = false;
  bool keep_alive = false;
  bool expect_continue = false;
  for (size_t i = 0; i < pending_.header_count(); ++i) {
    Header h = pending_.header(i);
    if (EqualsIgnoreCase(h.name, "host")) {
      ++hosts;
    } else if (EqualsIgnoreCase(h.name, "transfer-encoding")) {
      transfer_encoding = true;
    } else if (EqualsIgnoreCase(h.name, "content-length")) {
      // RFC 9110 8.6: a list of identical values may stand for one value;
      // any other list, or differing lines, is 400.
      ForEachListMember(h.value, [&](absl::string_view member) {
        if (!length_error.empty()) return;
        if (member.empty()) {
          length_error = "bad Content-Length";
          return;
        }
        uint64_t v = 0;
        for (char c : member) {
          if (c < '0' || c > '9') {
            length_error = "bad Content-Length";
            return;
          }
          uint64_t digit = static_cast<uint64_t>(c - '0');
          if (v > (std::numeric_limits<uint64_t>::max() - digit) / 10) {
            length_error = "Content-Length overflows";
            return;
          }
          v = v * 10 + digit;
        }
        if (has_length && v != length) {
          length_error = "conflicting Content-Length values";
          return;
        }
        has_length = true;
        length = v;
      });
    } else if (EqualsIgnoreCase(h.name, "connection")) {
      ForEachListMember(h.value, [&](absl::string_view option) {
        if (EqualsIgnoreCase(option, "close")) close = true;
        if (EqualsIgnoreCase(option, "keep-alive")) keep_alive = true;
      });
    } else if (EqualsIgnoreCase(h.name, "expect")) {
      ForEachListMember(h.value, [&](absl::string_view e) {
        if (EqualsIgnoreCase(e, "100-continue")) expect_continue = true;
      });
    }
  }

  if (hosts > 1) {
    Fail(400, "more than one Host");
    return false;
  }
  if (hosts == 0 && http11 && limits_.require_host) {
    Fail(400, "missing Host");
    return false;
  }
  // RFC 9112 6.1: both framings at once is how requests get smuggled.
  if (transfer_encoding && (has_length || !length_error.empty())) {
    Fail(400, "both Transfer-Encoding and Content-Length");
    return false;
  }
  if (transfer_encoding) {
    Fail(501, "Transfer-Encoding not supported");
    return false;
  }
  if (!length_error.empty()) {
    Fail(400, length_error);
    return false;
  }
  if (length > limits_.max_body_bytes) {
    Fail(413, "request body too large");
    return false;
  }

  pending_.content_length_ = length;
  pending_.keep_alive_ = http11 ? !close : (keep_alive && !close);
  // RFC 9110 10.1.1: an HTTP/1.0 request's 100-continue is ignored.
  pending_.expect_continue_ = http11 && expect_continue;
  std::swap(head_, pending_);
  return true;
}

}  // namespace tidepool::frontend::http
