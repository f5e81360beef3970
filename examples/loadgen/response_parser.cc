#include "examples/loadgen/response_parser.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"

namespace tidepool::loadgen {
namespace {

// A chunk or body this large is a broken server, not a real response; the
// cap also keeps the size arithmetic far from overflow.
constexpr uint64_t kMaxBodyPart = uint64_t{1} << 40;

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The bytes before which a header name ends, or which may not be in it.
bool IsNameByte(char c) { return c > ' ' && c < 0x7F && c != ':'; }

}  // namespace

void ResponseParser::Reset(const std::string* expected, std::string* sink) {
  state_ = State::kStatusLine;
  error_ = {};
  line_.clear();
  expected_ = expected;
  sink_ = sink;
  status_ = 0;
  http10_ = false;
  chunked_ = false;
  has_transfer_encoding_ = false;
  connection_close_ = false;
  connection_keep_alive_ = false;
  keep_alive_ = false;
  content_length_.reset();
  remaining_ = 0;
  crlf_seen_ = 0;
  body_bytes_ = 0;
  chunk_count_ = 0;
  max_chunk_bytes_ = 0;
  mismatch_at_.reset();
}

size_t ResponseParser::Feed(absl::string_view data) {
  size_t used = 0;
  while (used < data.size()) {
    const absl::string_view rest = data.substr(used);
    switch (state_) {
      case State::kStatusLine:
      case State::kHeaders:
      case State::kChunkSize:
      case State::kTrailers: {
        bool complete = false;
        used += TakeLine(rest, &complete);
        if (complete) {
          OnLine(line_);
          line_.clear();
        }
        break;
      }
      case State::kChunkData:
      case State::kBody: {
        const size_t n =
            static_cast<size_t>(std::min<uint64_t>(remaining_, rest.size()));
        OnBodyBytes(rest.substr(0, n));
        used += n;
        remaining_ -= n;
        if (remaining_ == 0) {
          state_ = state_ == State::kBody ? State::kDone : State::kChunkDataEnd;
        }
        break;
      }
      case State::kChunkDataEnd:
        if (rest[0] != "\r\n"[crlf_seen_]) {
          Fail("chunk data not followed by CRLF");
          break;
        }
        ++used;
        if (++crlf_seen_ == 2) {
          crlf_seen_ = 0;
          state_ = State::kChunkSize;
        }
        break;
      case State::kBodyUntilEof:
        OnBodyBytes(rest);
        used = data.size();
        break;
      case State::kDone:
      case State::kError:
        return used;
    }
  }
  return used;
}

void ResponseParser::FinishAtEof() {
  switch (state_) {
    case State::kBodyUntilEof:
      state_ = State::kDone;
      break;
    case State::kDone:
    case State::kError:
      break;
    case State::kStatusLine:
      Fail(line_.empty() ? "end of stream before the response"
                         : "end of stream in the status line");
      break;
    default:
      Fail("end of stream in the middle of the response");
  }
}

bool ResponseParser::body_matches() const {
  return !first_difference().has_value();
}

std::optional<uint64_t> ResponseParser::first_difference() const {
  if (mismatch_at_.has_value()) return mismatch_at_;
  if (expected_ != nullptr && body_bytes_ < expected_->size()) {
    return body_bytes_;
  }
  return std::nullopt;
}

size_t ResponseParser::TakeLine(absl::string_view data, bool* complete) {
  const void* lf = std::memchr(data.data(), '\n', data.size());
  const size_t take = lf == nullptr
                          ? data.size()
                          : static_cast<const char*>(lf) - data.data() + 1;
  // The limit counts the line without its CRLF.
  if (line_.size() + take > kMaxLineBytes + 2) {
    Fail("header or chunk-size line too long");
    return take;
  }
  line_.append(data.data(), take);
  *complete = lf != nullptr;
  if (!*complete && line_.size() > kMaxLineBytes + 1) {
    Fail("header or chunk-size line too long");  // no room left for CRLF
    return take;
  }
  if (*complete) {
    if (line_.size() < 2 || line_[line_.size() - 2] != '\r') {
      Fail("line ends in a bare LF");
      *complete = false;
      return take;
    }
    line_.resize(line_.size() - 2);
    if (line_.size() > kMaxLineBytes) {
      Fail("header or chunk-size line too long");
      *complete = false;
    }
  }
  return take;
}

void ResponseParser::OnLine(absl::string_view line) {
  switch (state_) {
    case State::kStatusLine:
      OnStatusLine(line);
      break;
    case State::kHeaders:
      OnHeader(line);
      break;
    case State::kChunkSize:
      OnChunkSize(line);
      break;
    case State::kTrailers:
      // Trailer fields are read and dropped; the empty line ends them.
      if (line.empty()) {
        state_ = State::kDone;
      } else if (line.find(':') == absl::string_view::npos) {
        Fail("malformed trailer line");
      }
      break;
    default:
      break;
  }
}

void ResponseParser::OnStatusLine(absl::string_view line) {
  // "HTTP/1.d SSS" then the end or " reason".
  if (line.size() < 12 || !absl::StartsWith(line, "HTTP/1.") ||
      !IsDigit(line[7]) || line[8] != ' ' || !IsDigit(line[9]) ||
      !IsDigit(line[10]) || !IsDigit(line[11]) ||
      (line.size() > 12 && line[12] != ' ')) {
    Fail("malformed status line");
    return;
  }
  http10_ = line[7] == '0';
  status_ = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
  if (status_ < 100) {
    Fail("status code below 100");
    return;
  }
  state_ = State::kHeaders;
}

void ResponseParser::OnHeader(absl::string_view line) {
  if (line.empty()) {
    OnHeadEnd();
    return;
  }
  const size_t colon = line.find(':');
  if (colon == absl::string_view::npos || colon == 0) {
    Fail("malformed header line");
    return;
  }
  const absl::string_view name = line.substr(0, colon);
  if (!std::all_of(name.begin(), name.end(), IsNameByte)) {
    Fail("malformed header name");
    return;
  }
  const absl::string_view value =
      absl::StripAsciiWhitespace(line.substr(colon + 1));
  if (absl::EqualsIgnoreCase(name, "content-length")) {
    if (value.empty() || value.size() > 15 ||
        !std::all_of(value.begin(), value.end(), IsDigit)) {
      Fail("malformed Content-Length");
      return;
    }
    uint64_t n = 0;
    for (const char c : value) n = n * 10 + static_cast<uint64_t>(c - '0');
    if (content_length_.has_value() && *content_length_ != n) {
      Fail("conflicting Content-Length headers");
      return;
    }
    content_length_ = n;
  } else if (absl::EqualsIgnoreCase(name, "transfer-encoding")) {
    // Only the last coding decides the framing (RFC 9112 6.3).
    has_transfer_encoding_ = true;
    const size_t comma = value.rfind(',');
    const absl::string_view last = absl::StripAsciiWhitespace(
        comma == absl::string_view::npos ? value : value.substr(comma + 1));
    chunked_ = absl::EqualsIgnoreCase(last, "chunked");
  } else if (absl::EqualsIgnoreCase(name, "connection")) {
    for (absl::string_view option : absl::StrSplit(value, ',')) {
      option = absl::StripAsciiWhitespace(option);
      if (absl::EqualsIgnoreCase(option, "close")) connection_close_ = true;
      if (absl::EqualsIgnoreCase(option, "keep-alive")) {
        connection_keep_alive_ = true;
      }
    }
  }
}

void ResponseParser::OnHeadEnd() {
  if (status_ < 200) {
    if (status_ == 101) {
      Fail("unexpected 101 Switching Protocols");
      return;
    }
    // An interim response (100 Continue, 103 Early Hints): the real one
    // follows.
    const std::string* expected = expected_;
    std::string* sink = sink_;
    Reset(expected, sink);
    return;
  }
  keep_alive_ = !connection_close_ && (!http10_ || connection_keep_alive_);
  if (status_ == 204 || status_ == 304) {
    state_ = State::kDone;
  } else if (has_transfer_encoding_) {
    if (chunked_) {
      state_ = State::kChunkSize;
    } else {
      state_ = State::kBodyUntilEof;
      keep_alive_ = false;
    }
  } else if (content_length_.has_value()) {
    if (*content_length_ > kMaxBodyPart) {
      Fail("Content-Length too large");
      return;
    }
    remaining_ = *content_length_;
    state_ = remaining_ == 0 ? State::kDone : State::kBody;
  } else {
    state_ = State::kBodyUntilEof;
    keep_alive_ = false;
  }
}

void ResponseParser::OnChunkSize(absl::string_view line) {
  // chunk-size [ BWS ";" extensions ], the extensions ignored.
  size_t i = 0;
  uint64_t size = 0;
  while (i < line.size() && HexValue(line[i]) >= 0) {
    size = size * 16 + static_cast<uint64_t>(HexValue(line[i]));
    if (size > kMaxBodyPart) {
      Fail("chunk size too large");
      return;
    }
    ++i;
  }
  if (i == 0) {
    Fail("malformed chunk size");
    return;
  }
  while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
  if (i < line.size() && line[i] != ';') {
    Fail("malformed chunk size");
    return;
  }
  if (size == 0) {
    state_ = State::kTrailers;
    return;
  }
  ++chunk_count_;
  max_chunk_bytes_ = std::max(max_chunk_bytes_, size);
  remaining_ = size;
  state_ = State::kChunkData;
}

void ResponseParser::OnBodyBytes(absl::string_view bytes) {
  if (expected_ != nullptr && !mismatch_at_.has_value()) {
    const uint64_t have = expected_->size();
    const size_t avail = body_bytes_ >= have
                             ? 0
                             : static_cast<size_t>(std::min<uint64_t>(
                                   have - body_bytes_, bytes.size()));
    const char* want = avail > 0 ? expected_->data() + body_bytes_ : nullptr;
    if (avail > 0 && std::memcmp(bytes.data(), want, avail) != 0) {
      size_t at = 0;
      while (bytes[at] == want[at]) ++at;
      mismatch_at_ = body_bytes_ + at;
    } else if (bytes.size() > avail) {
      mismatch_at_ = body_bytes_ + avail;  // longer than expected
    }
  }
  if (sink_ != nullptr) sink_->append(bytes.data(), bytes.size());
  body_bytes_ += bytes.size();
}

void ResponseParser::Fail(absl::string_view why) {
  state_ = State::kError;
  error_ = why;
}

}  // namespace tidepool::loadgen
