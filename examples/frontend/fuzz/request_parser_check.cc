#include "examples/frontend/fuzz/request_parser_check.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <sstream>
#include <utility>
#include <vector>

#include "examples/frontend/http/request_parser.h"

namespace tidepool::frontend::http {
namespace {

std::string Str(absl::string_view s) { return std::string(s.data(), s.size()); }

using Parsed = ParsedRequest;
using Outcome = ParseOutcome;

std::string Describe(const Outcome& o) {
  std::ostringstream s;
  s << o.requests.size() << " requests, " << o.heads << " heads, ";
  if (o.error_status != 0) {
    s << "error " << o.error_status << " (" << o.error_reason << ")";
  } else {
    s << "waiting, partial=" << o.partial << " buffered=" << o.buffered;
  }
  for (const Parsed& r : o.requests) {
    s << "\n  " << r.method << " " << r.target << " "
      << (r.version == Version::kHttp10 ? "1.0" : "1.1") << " "
      << r.headers.size() << " headers, body " << r.body.size() << ", size "
      << r.request_bytes;
  }
  return s.str();
}

// A small deterministic generator, so a failing input replays exactly.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed * 0x9e3779b97f4a7c15ull + 1) {}
  uint64_t Next() {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 7;
    state_ ^= state_ << 17;
    return state_;
  }

 private:
  uint64_t state_;
};

enum class Feeding { kWhole, kByteByByte, kRandom, kPrepared, kTakingBodies };

Outcome Run(absl::string_view input, const ParserLimits& limits,
            Feeding feeding, uint64_t seed) {
  RequestParser p(limits);
  Outcome out;
  Rng rng(seed);
  size_t at = 0;
  while (at < input.size()) {
    size_t n = input.size() - at;
    switch (feeding) {
      case Feeding::kWhole:
        break;
      case Feeding::kByteByByte:
        n = 1;
        break;
      case Feeding::kRandom:
        // Mostly short pieces, sometimes long ones, sometimes empty.
        n = std::min<size_t>(
            n, rng.Next() % 4 == 0 ? rng.Next() % 300 : rng.Next() % 8);
        break;
      case Feeding::kPrepared:
      case Feeding::kTakingBodies:
        break;
    }
    if (feeding == Feeding::kPrepared || feeding == Feeding::kTakingBodies) {
      absl::Span<char> space = p.PrepareFeed(1 + rng.Next() % 64);
      n = std::min<size_t>({n, space.size(), 1 + rng.Next() % 100});
      std::memcpy(space.data(), input.data() + at, n);
      p.CommitFeed(n);
    } else {
      p.Feed(input.substr(at, n));
    }
    at += n;
    if (!DrainParser(p, out, feeding == Feeding::kTakingBodies)) return out;
    if (feeding == Feeding::kTakingBodies) p.ReleaseIdleBuffer();
  }
  DrainParser(p, out, feeding == Feeding::kTakingBodies);
  return out;
}

bool IsTchar(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
         (c >= 'A' && c <= 'Z') || std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

bool IsToken(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return c != '\0' && IsTchar(static_cast<unsigned char>(c));
  });
}

std::string Lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

// Grammar and limit checks on one request; "" if fine.
std::string CheckRequest(const Parsed& r, const ParserLimits& limits) {
  if (!IsToken(r.method)) return "method is not a token: " + r.method;
  if (r.target.empty()) return "empty target";
  for (char c : r.target) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x21 || u > 0x7e) return "target byte outside VCHAR";
  }
  for (const auto& [name, value] : r.headers) {
    if (!IsToken(name)) return "field name is not a token: " + name;
    for (char c : value) {
      unsigned char u = static_cast<unsigned char>(c);
      if (u == 0x7f || (u < 0x20 && u != '\t')) return "control byte in value";
    }
    if (!value.empty() && (value.front() == ' ' || value.front() == '\t' ||
                           value.back() == ' ' || value.back() == '\t')) {
      return "field value not trimmed";
    }
  }
  if (r.body.size() != r.content_length) {
    return "body size " + std::to_string(r.body.size()) +
           " != Content-Length " + std::to_string(r.content_length);
  }
  if (r.content_length > limits.max_body_bytes) return "body over the limit";
  if (r.request_bytes < r.content_length ||
      r.request_bytes - r.content_length > limits.max_head_bytes) {
    return "head over the limit";
  }
  bool has_connection = false;
  for (const auto& h : r.headers) {
    if (Lower(h.first) == "connection") has_connection = true;
  }
  if (!has_connection && r.keep_alive != (r.version == Version::kHttp11)) {
    return "keep-alive default wrong for the version";
  }
  return "";
}

// The request written back out with single spaces, trimmed values and no
// leading empty lines.
std::string Serialize(const Parsed& r) {
  std::string s = r.method + " " + r.target + " HTTP/1." +
                  (r.version == Version::kHttp10 ? "0" : "1") + "\r\n";
  for (const auto& [name, value] : r.headers) {
    s += name + ": " + value + "\r\n";
  }
  return s + "\r\n" + r.body;
}

ParserLimits LimitsFor(uint8_t config) {
  ParserLimits limits;
  if (config & 1) limits.max_head_bytes = 64;
  if (config & 2) limits.max_body_bytes = 16;
  if (config & 4) limits.require_host = false;
  return limits;
}

}  // namespace

bool ParsedRequest::SameRequest(const ParsedRequest& o) const {
  ParsedRequest same_size = o;
  same_size.request_bytes = request_bytes;
  return *this == same_size;
}

ParsedRequest CaptureRequest(const RequestParser& p) {
  ParsedRequest r;
  const RequestHead& h = p.head();
  r.method = Str(h.method());
  r.target = Str(h.target());
  r.version = h.version();
  for (size_t i = 0; i < h.header_count(); ++i) {
    r.headers.emplace_back(Str(h.header(i).name), Str(h.header(i).value));
  }
  r.body = Str(p.body());
  r.content_length = h.content_length();
  r.keep_alive = h.keep_alive();
  r.expect_continue = h.expect_continue();
  r.request_bytes = p.request_bytes();
  return r;
}

bool DrainParser(RequestParser& p, ParseOutcome& out, bool take_bodies) {
  for (;;) {
    switch (p.Next()) {
      case ParseEvent::kNeedMore:
        out.partial = p.HasPartialRequest();
        out.buffered = p.buffered_bytes();
        return true;
      case ParseEvent::kHead:
        ++out.heads;
        break;
      case ParseEvent::kRequest:
        out.requests.push_back(CaptureRequest(p));
        if (take_bodies) {
          const RequestParser::OwnedBody body = p.TakeBody();
          out.requests.back().body = Str(body.view());
          if (!p.body().empty()) out.requests.back().body += "<body() after>";
        }
        break;
      case ParseEvent::kError:
        out.error_status = p.error().status;
        out.error_reason = Str(p.error().reason);
        out.partial = p.HasPartialRequest();
        out.buffered = 0;
        return false;
    }
  }
}

std::string CheckRequestParser(const uint8_t* data, size_t size) {
  if (size == 0) return "";
  const ParserLimits limits = LimitsFor(data[0]);
  const uint64_t seed = (data[0] >> 3) + 32 * size;
  const absl::string_view input(reinterpret_cast<const char*>(data) + 1,
                                size - 1);

  const Outcome whole = Run(input, limits, Feeding::kWhole, seed);
  const std::pair<Feeding, const char*> others[] = {
      {Feeding::kByteByByte, "byte by byte"},
      {Feeding::kRandom, "random pieces"},
      {Feeding::kPrepared, "PrepareFeed"},
      {Feeding::kTakingBodies, "PrepareFeed, taking bodies"},
  };
  for (const auto& [feeding, name] : others) {
    Outcome o = Run(input, limits, feeding, seed);
    if (!(o == whole)) {
      return std::string("fed ") + name + " gives\n" + Describe(o) +
             "\nbut fed whole gives\n" + Describe(whole);
    }
  }

  if (whole.heads != static_cast<int>(whole.requests.size()) &&
      whole.heads != static_cast<int>(whole.requests.size()) + 1) {
    return "heads and requests out of step: " + Describe(whole);
  }
  size_t at = 0;
  for (const Parsed& r : whole.requests) {
    if (std::string failure = CheckRequest(r, limits); !failure.empty()) {
      return failure + "\n" + Describe(whole);
    }
    if (at + r.request_bytes > input.size()) return "request past the input";
    absl::string_view sent = input.substr(at, r.request_bytes);
    if (sent.substr(sent.size() - r.body.size()) != r.body) {
      return "body is not the bytes after the head";
    }
    at += r.request_bytes;

    // Canonical form round trip, with room for the added spaces.
    ParserLimits relaxed = limits;
    relaxed.max_head_bytes = std::numeric_limits<uint32_t>::max();
    Outcome again = Run(Serialize(r), relaxed, Feeding::kWhole, 0);
    if (again.requests.size() != 1 || again.error_status != 0 ||
        !again.requests[0].SameRequest(r)) {
      return "request written back out parses differently:\n" +
             Describe(again) + "\nfrom\n" + Describe(whole);
    }
  }
  if (whole.error_status == 0) {
    if (whole.partial != (at < input.size()) ||
        whole.buffered != input.size() - at) {
      return "leftover bytes misreported: " + Describe(whole) + "\nconsumed " +
             std::to_string(at) + " of " + std::to_string(input.size());
    }
  } else {
    switch (whole.error_status) {
      case 400:
      case 413:
      case 431:
      case 501:
      case 505:
        break;
      default:
        return "unexpected error status " + std::to_string(whole.error_status);
    }
    if (whole.error_reason.empty()) return "error without a reason";
    RequestParser p(limits);
    p.Feed(input);
    for (ParseEvent e = p.Next(); e != ParseEvent::kError; e = p.Next()) {
      if (e == ParseEvent::kNeedMore) return "whole input did not fail again";
    }
    p.Feed("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    if (p.Next() != ParseEvent::kError ||
        p.error().status != whole.error_status) {
      return "error did not stick";
    }
  }
  return "";
}

}  // namespace tidepool::frontend::http
