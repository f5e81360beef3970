#include "examples/frontend/http/request_parser.h"

#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "examples/frontend/fuzz/request_parser_check.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tidepool::frontend::http {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;

absl::string_view AsView(const std::string& s) {
  return absl::string_view(s.data(), s.size());
}

// The checker's recorder (examples/frontend/fuzz/request_parser_check.h).
using Parsed = ParsedRequest;
using Outcome = ParseOutcome;

// Feeds `input` in pieces ending at each offset of `cuts` (and at the end).
Outcome ParseSplit(const std::string& input, const std::vector<size_t>& cuts,
                   ParserLimits limits = {}) {
  RequestParser p(limits);
  Outcome out;
  size_t at = 0;
  std::vector<size_t> ends = cuts;
  ends.push_back(input.size());
  for (size_t end : ends) {
    p.Feed(AsView(input).substr(at, end - at));
    at = end;
    if (!DrainParser(p, out)) break;
  }
  return out;
}

Outcome Parse(const std::string& input, ParserLimits limits = {}) {
  return ParseSplit(input, {}, limits);
}

Outcome ParseByteByByte(const std::string& input, ParserLimits limits = {}) {
  std::vector<size_t> cuts;
  for (size_t i = 1; i < input.size(); ++i) cuts.push_back(i);
  return ParseSplit(input, cuts, limits);
}

// The whole input at once, every two-piece split and byte by byte must all
// agree; returns the common outcome.
Outcome ParseEverySplit(const std::string& input, ParserLimits limits = {}) {
  Outcome whole = Parse(input, limits);
  for (size_t i = 0; i <= input.size(); ++i) {
    EXPECT_EQ(ParseSplit(input, {i}, limits), whole) << "split at " << i;
  }
  EXPECT_EQ(ParseByteByByte(input, limits), whole) << "byte by byte";
  return whole;
}

const char kGet[] = "GET /index.html HTTP/1.1\r\nHost: example\r\n\r\n";
const char kPost[] =
    "POST /v1/generate HTTP/1.1\r\n"
    "Host: example\r\n"
    "Content-Type: application/json\r\n"
    "Content-Length: 17\r\n"
    "\r\n"
    "{\"prompt\": \"Hi\"}\n";

TEST(RequestParserTest, ParsesGet) {
  Outcome out = Parse(kGet);
  ASSERT_EQ(out.error_status, 0) << out.error_reason;
  ASSERT_EQ(out.requests.size(), 1u);
  const Parsed& r = out.requests[0];
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.target, "/index.html");
  EXPECT_EQ(r.version, Version::kHttp11);
  EXPECT_THAT(r.headers, ElementsAre(Pair("Host", "example")));
  EXPECT_EQ(r.body, "");
  EXPECT_EQ(r.content_length, 0u);
  EXPECT_TRUE(r.keep_alive);
  EXPECT_FALSE(r.expect_continue);
  EXPECT_EQ(r.request_bytes, std::strlen(kGet));
  EXPECT_FALSE(out.partial);
}

TEST(RequestParserTest, ParsesPostBody) {
  Outcome out = Parse(kPost);
  ASSERT_EQ(out.requests.size(), 1u) << out.error_reason;
  EXPECT_EQ(out.requests[0].method, "POST");
  EXPECT_EQ(out.requests[0].target, "/v1/generate");
  EXPECT_EQ(out.requests[0].content_length, 17u);
  EXPECT_EQ(out.requests[0].body, "{\"prompt\": \"Hi\"}\n");
  EXPECT_EQ(out.requests[0].request_bytes, std::strlen(kPost));
}

TEST(RequestParserTest, HeadComesBeforeTheBody) {
  std::string post = kPost;
  size_t head_end = post.find("\r\n\r\n") + 4;
  RequestParser p;
  p.Feed(AsView(post).substr(0, head_end - 1));
  EXPECT_EQ(p.Next(), ParseEvent::kNeedMore);
  EXPECT_TRUE(p.HasPartialRequest());
  p.Feed(AsView(post).substr(head_end - 1, 1));
  ASSERT_EQ(p.Next(), ParseEvent::kHead);
  EXPECT_EQ(p.head().content_length(), 17u);
  EXPECT_EQ(p.body(), "");
  EXPECT_EQ(p.Next(), ParseEvent::kNeedMore);
  EXPECT_TRUE(p.HasPartialRequest());
  p.Feed(AsView(post).substr(head_end, 16));
  EXPECT_EQ(p.Next(), ParseEvent::kNeedMore);
  p.Feed(AsView(post).substr(head_end + 16));
  ASSERT_EQ(p.Next(), ParseEvent::kRequest);
  EXPECT_EQ(p.body(), "{\"prompt\": \"Hi\"}\n");
  EXPECT_FALSE(p.HasPartialRequest());
  EXPECT_EQ(p.Next(), ParseEvent::kNeedMore);
  EXPECT_FALSE(p.HasPartialRequest());
}

TEST(RequestParserTest, ZeroLengthBodyStillGivesHeadThenRequest) {
  RequestParser p;
  p.Feed(kGet);
  EXPECT_EQ(p.Next(), ParseEvent::kHead);
  EXPECT_EQ(p.Next(), ParseEvent::kRequest);
  EXPECT_EQ(p.Next(), ParseEvent::kNeedMore);
}

TEST(RequestParserTest, EverySplitPositionGivesTheSameRequests) {
  std::string input = std::string(kPost) + kGet + kPost;
  Outcome out = ParseEverySplit(input);
  ASSERT_EQ(out.requests.size(), 3u) << out.error_reason;
  EXPECT_EQ(out.heads, 3);
  EXPECT_EQ(out.requests[0].body, "{\"prompt\": \"Hi\"}\n");
  EXPECT_EQ(out.requests[1].method, "GET");
  EXPECT_EQ(out.requests[2], out.requests[0]);
}

TEST(RequestParserTest, EverySplitPositionGivesTheSameError) {
  for (const std::string& input : {
           std::string(kPost) +
               "GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n",
           std::string(kGet) + "GET / HTTP/1.1\nHost: a\r\n\r\n",
           std::string("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n"),
           std::string(
               "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99\r\n\r\n"),
       }) {
    Outcome out = ParseEverySplit(input, ParserLimits{.max_body_bytes = 50});
    EXPECT_NE(out.error_status, 0) << input;
  }
}

TEST(RequestParserTest, HeadLimitDoesNotDependOnSplits) {
  // A bad line that ends past the limit is 431 however it arrives; one that
  // ends within it is 400.
  std::string late_bad =
      "GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(40, 'x') +
      "\x01\r\n\r\n";
  Outcome out = ParseEverySplit(late_bad, ParserLimits{.max_head_bytes = 48});
  EXPECT_EQ(out.error_status, 431);
  out = ParseEverySplit(late_bad, ParserLimits{.max_head_bytes = 200});
  EXPECT_EQ(out.error_status, 400);
}

TEST(RequestParserTest, PipelinedBytesStayForTheNextRequest) {
  std::string input = std::string(kPost) + kGet + "PUT /x HTTP/1.0\r\n";
  RequestParser p;
  p.Feed(input);
  ASSERT_EQ(p.Next(), ParseEvent::kHead);
  ASSERT_EQ(p.Next(), ParseEvent::kRequest);
  EXPECT_EQ(p.body(), "{\"prompt\": \"Hi\"}\n");
  EXPECT_EQ(p.buffered_bytes(), input.size());
  EXPECT_TRUE(p.HasPartialRequest());
  ASSERT_EQ(p.Next(), ParseEvent::kHead);
  EXPECT_EQ(p.head().method(), "GET");
  ASSERT_EQ(p.Next(), ParseEvent::kRequest);
  EXPECT_EQ(p.Next(), ParseEvent::kNeedMore);
  EXPECT_TRUE(p.HasPartialRequest());
  EXPECT_EQ(p.buffered_bytes(), std::strlen("PUT /x HTTP/1.0\r\n"));
  p.Feed("\r\n");
  ASSERT_EQ(p.Next(), ParseEvent::kHead);
  EXPECT_EQ(p.head().method(), "PUT");
  EXPECT_EQ(p.head().version(), Version::kHttp10);
  ASSERT_EQ(p.Next(), ParseEvent::kRequest);
  EXPECT_EQ(p.Next(), ParseEvent::kNeedMore);
  EXPECT_FALSE(p.HasPartialRequest());
  EXPECT_EQ(p.buffered_bytes(), 0u);
}

// The taken body keeps its buffer; a pipelined request after it is copied
// out and parsed next, and overwriting the rest of the old buffer changes
// neither.
TEST(RequestParserTest, TakeBodyHandsOverTheBuffer) {
  RequestParser p;
  p.Feed(std::string(kPost) + kGet);
  ASSERT_EQ(p.Next(), ParseEvent::kHead);
  ASSERT_EQ(p.Next(), ParseEvent::kRequest);
  RequestParser::OwnedBody body = p.TakeBody();
  EXPECT_EQ(body.view(), "{\"prompt\": \"Hi\"}\n");
  std::memset(body.buffer.get() + body.offset + body.size, '}',
              std::strlen(kGet));
  EXPECT_EQ(body.view(), "{\"prompt\": \"Hi\"}\n");
  ASSERT_EQ(p.Next(), ParseEvent::kHead);
  EXPECT_EQ(p.head().method(), "GET");
  ASSERT_EQ(p.Next(), ParseEvent::kRequest);
  EXPECT_EQ(p.TakeBody().size, 0u);
}

TEST(RequestParserTest, BodyBytesThatLookLikeARequestAreBody) {
  std::string body = "GET / HTTP/1.1\r\n\r\n";
  std::string input = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: " +
                      std::to_string(body.size()) + "\r\n\r\n" + body;
  Outcome out = ParseEverySplit(input);
  ASSERT_EQ(out.requests.size(), 1u) << out.error_reason;
  EXPECT_EQ(out.requests[0].body, body);
}

TEST(RequestParserTest, HeadOutlivesTheNextRequest) {
  RequestParser p;
  p.Feed(std::string(kPost) + kGet);
  ASSERT_EQ(p.Next(), ParseEvent::kHead);
  RequestHead first = p.head();
  ASSERT_EQ(p.Next(), ParseEvent::kRequest);
  ASSERT_EQ(p.Next(), ParseEvent::kHead);
  EXPECT_EQ(first.method(), "POST");
  EXPECT_EQ(first.Find("content-type"), "application/json");
  RequestHead moved = std::move(first);
  EXPECT_EQ(moved.target(), "/v1/generate");
  EXPECT_EQ(p.head().method(), "GET");
}

TEST(RequestParserTest, HeaderLookupIgnoresCase) {
  RequestParser p;
  p.Feed(
      "GET / HTTP/1.1\r\nHost: a\r\nX-Thing: one\r\nx-thing: two\r\n"
      "CONTENT-length: 0\r\n\r\n");
  ASSERT_EQ(p.Next(), ParseEvent::kHead);
  EXPECT_EQ(p.head().Find("x-THING"), "one");
  EXPECT_EQ(p.head().Find("Content-Length"), "0");
  EXPECT_EQ(p.head().Find("HOST"), "a");
  EXPECT_EQ(p.head().Find("X-Thin"), std::nullopt);
  EXPECT_EQ(p.head().Find("X-Things"), std::nullopt);
  EXPECT_EQ(p.head().header_count(), 4u);
  EXPECT_EQ(p.head().header(2).name, "x-thing");
}

TEST(RequestParserTest, FieldValuesLoseSurroundingWhitespaceOnly) {
  Outcome out = Parse(
      "GET / HTTP/1.1\r\nHost:a\r\nA: \t x \t y \t\r\nB:\r\nC:   \r\n"
      "D: caf\xc3\xa9\r\n\r\n");
  ASSERT_EQ(out.requests.size(), 1u) << out.error_reason;
  EXPECT_THAT(out.requests[0].headers,
              ElementsAre(Pair("Host", "a"), Pair("A", "x \t y"), Pair("B", ""),
                          Pair("C", ""), Pair("D", "caf\xc3\xa9")));
}

TEST(RequestParserTest, SkipsEmptyLinesBeforeTheRequestLine) {
  Outcome out = ParseEverySplit(std::string("\r\n\r\n") + kGet);
  ASSERT_EQ(out.requests.size(), 1u) << out.error_reason;
  EXPECT_EQ(out.requests[0].request_bytes, 4 + std::strlen(kGet));
  // A client's CRLF after a POST body, then the next request.
  out = ParseEverySplit(std::string(kPost) + "\r\n" + kGet);
  ASSERT_EQ(out.requests.size(), 2u) << out.error_reason;
  EXPECT_EQ(out.requests[1].method, "GET");
}

TEST(RequestParserTest, Versions) {
  Outcome out = Parse("GET / HTTP/1.0\r\n\r\n");
  ASSERT_EQ(out.requests.size(), 1u) << out.error_reason;
  EXPECT_EQ(out.requests[0].version, Version::kHttp10);
  // RFC 9110 2.5: a later 1.x minor version is served as 1.1.
  out = Parse("GET / HTTP/1.7\r\nHost: a\r\n\r\n");
  ASSERT_EQ(out.requests.size(), 1u) << out.error_reason;
  EXPECT_EQ(out.requests[0].version, Version::kHttp11);
}

TEST(RequestParserTest, TargetsAndMethodsOfAnyTokenAndVisibleBytes) {
  Outcome out = Parse(
      "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"
      "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"
      "M-SEARCH!#$%&'*+.^_`|~09az http://h/p?q=1&r=%20#f HTTP/1.1\r\n"
      "Host: h\r\n\r\n");
  ASSERT_EQ(out.requests.size(), 3u) << out.error_reason;
  EXPECT_EQ(out.requests[0].target, "*");
  EXPECT_EQ(out.requests[1].target, "example.com:443");
  EXPECT_EQ(out.requests[2].method, "M-SEARCH!#$%&'*+.^_`|~09az");
  EXPECT_EQ(out.requests[2].target, "http://h/p?q=1&r=%20#f");
}

struct BadCase {
  const char* name;
  std::string input;
  int status;
  const char* reason;
};

class BadRequestTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadRequestTest, Rejected) {
  const BadCase& c = GetParam();
  Outcome out = ParseEverySplit(c.input);
  EXPECT_TRUE(out.requests.empty());
  EXPECT_EQ(out.error_status, c.status);
  EXPECT_EQ(out.error_reason, c.reason);
}

std::string WithHeaders(const std::string& lines) {
  return "POST / HTTP/1.1\r\nHost: a\r\n" + lines + "\r\n";
}

INSTANTIATE_TEST_SUITE_P(
    Errors, BadRequestTest,
    ::testing::Values(
        // Request line.
        BadCase{"NoVersion", "GET /\r\n\r\n", 400, "malformed request line"},
        BadCase{"OnlyMethod", "GET\r\n\r\n", 400, "malformed request line"},
        BadCase{"DoubleSpace", "GET  / HTTP/1.1\r\n\r\n", 400,
                "malformed request line"},
        BadCase{"LeadingSpace", " GET / HTTP/1.1\r\n\r\n", 400,
                "malformed request line"},
        BadCase{"TrailingSpace", "GET / HTTP/1.1 \r\n\r\n", 400,
                "malformed request line"},
        BadCase{"TabSeparator", "GET\t/ HTTP/1.1\r\n\r\n", 400,
                "malformed request line"},
        BadCase{"BadMethod", "G(T / HTTP/1.1\r\n\r\n", 400, "bad method"},
        BadCase{"NonAsciiMethod", "G\xc3\x89T / HTTP/1.1\r\n\r\n", 400,
                "bad method"},
        BadCase{"ControlInTarget", "GET /\x01 HTTP/1.1\r\n\r\n", 400,
                "bad request target"},
        BadCase{"NonAsciiTarget", "GET /\xff HTTP/1.1\r\n\r\n", 400,
                "bad request target"},
        BadCase{"LowercaseVersion", "GET / http/1.1\r\n\r\n", 400,
                "bad HTTP version"},
        BadCase{"TwoDigitMinor", "GET / HTTP/1.10\r\n\r\n", 400,
                "bad HTTP version"},
        BadCase{"NoMinor", "GET / HTTP/2\r\n\r\n", 400, "bad HTTP version"},
        BadCase{"NotHttp", "GET / FTP/1.1\r\n\r\n", 400, "bad HTTP version"},
        BadCase{"Http2", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505,
                "HTTP version not supported"},
        BadCase{"Http3", "GET / HTTP/3.0\r\nHost: a\r\n\r\n", 505,
                "HTTP version not supported"},
        BadCase{"Http09", "GET / HTTP/0.9\r\n\r\n", 505,
                "HTTP version not supported"},
        // Line ends.
        BadCase{"BareLfAfterRequestLine", "GET / HTTP/1.1\nHost: a\r\n\r\n",
                400, "bare LF in request head"},
        BadCase{"BareLfAfterHeader", "GET / HTTP/1.1\r\nHost: a\n\r\n", 400,
                "bare LF in request head"},
        BadCase{"BareLfEndsHead", "GET / HTTP/1.1\r\nHost: a\r\n\n", 400,
                "bare LF in request head"},
        BadCase{"BareLfBeforeRequestLine", "\nGET / HTTP/1.1\r\n\r\n", 400,
                "bare LF in request head"},
        BadCase{"BareCrInValue", "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", 400,
                "bare CR in request head"},
        BadCase{"BareCrInRequestLine", "GET /\r HTTP/1.1\r\n\r\n", 400,
                "bare CR in request head"},
        BadCase{"CrCrLf", "GET / HTTP/1.1\r\r\n\r\n", 400,
                "bare CR in request head"},
        // Field lines.
        BadCase{"ObsFold", WithHeaders("X: a\r\n  b\r\n"), 400,
                "obsolete line folding"},
        BadCase{"ObsFoldTab", WithHeaders("X: a\r\n\tb\r\n"), 400,
                "obsolete line folding"},
        BadCase{"SpaceBeforeFirstField", "GET / HTTP/1.1\r\n Host: a\r\n\r\n",
                400, "obsolete line folding"},
        BadCase{"NoColon", WithHeaders("X a\r\n"), 400,
                "header line without colon"},
        BadCase{"SpaceBeforeColon", WithHeaders("X : a\r\n"), 400,
                "bad header name"},
        BadCase{"EmptyName", WithHeaders(": a\r\n"), 400, "bad header name"},
        BadCase{"BadNameByte", WithHeaders("X@Y: a\r\n"), 400,
                "bad header name"},
        BadCase{"ControlInValue", WithHeaders("X: a\x01z\r\n"), 400,
                "bad header value"},
        BadCase{"NulInValue", WithHeaders(std::string("X: a\0z\r\n", 8)), 400,
                "bad header value"},
        BadCase{"DelInValue", WithHeaders("X: a\x7fz\r\n"), 400,
                "bad header value"},
        // Host (RFC 9112 3.2).
        BadCase{"MissingHost", "GET / HTTP/1.1\r\n\r\n", 400, "missing Host"},
        BadCase{"TwoHosts", "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", 400,
                "more than one Host"},
        BadCase{"TwoHostsHttp10",
                "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400,
                "more than one Host"},
        // Framing.
        BadCase{"TransferEncoding",
                WithHeaders("Transfer-Encoding: chunked\r\n"), 501,
                "Transfer-Encoding not supported"},
        BadCase{"TransferEncodingIdentity",
                WithHeaders("transfer-encoding: identity\r\n"), 501,
                "Transfer-Encoding not supported"},
        BadCase{"TransferEncodingHttp10",
                "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 501,
                "Transfer-Encoding not supported"},
        BadCase{
            "TransferEncodingAndLength",
            WithHeaders("Content-Length: 3\r\nTransfer-Encoding: chunked\r\n"),
            400, "both Transfer-Encoding and Content-Length"},
        BadCase{
            "TransferEncodingAndBadLength",
            WithHeaders("Transfer-Encoding: chunked\r\nContent-Length: x\r\n"),
            400, "both Transfer-Encoding and Content-Length"},
        BadCase{"LengthNotDigits", WithHeaders("Content-Length: 12a\r\n"), 400,
                "bad Content-Length"},
        BadCase{"LengthNegative", WithHeaders("Content-Length: -1\r\n"), 400,
                "bad Content-Length"},
        BadCase{"LengthPlus", WithHeaders("Content-Length: +1\r\n"), 400,
                "bad Content-Length"},
        BadCase{"LengthHex", WithHeaders("Content-Length: 0x10\r\n"), 400,
                "bad Content-Length"},
        BadCase{"LengthEmpty", WithHeaders("Content-Length:\r\n"), 400,
                "bad Content-Length"},
        BadCase{"LengthInnerSpace", WithHeaders("Content-Length: 1 2\r\n"), 400,
                "bad Content-Length"},
        BadCase{"LengthEmptyMember", WithHeaders("Content-Length: 5,\r\n"), 400,
                "bad Content-Length"},
        BadCase{"LengthOverflows",
                WithHeaders("Content-Length: 18446744073709551616\r\n"), 400,
                "Content-Length overflows"},
        BadCase{"LengthOverflowsByMuch",
                WithHeaders("Content-Length: 99999999999999999999999\r\n"), 400,
                "Content-Length overflows"},
        BadCase{"LengthsDiffer",
                WithHeaders("Content-Length: 5\r\nContent-Length: 6\r\n"), 400,
                "conflicting Content-Length values"},
        BadCase{"LengthListDiffers", WithHeaders("Content-Length: 5, 6\r\n"),
                400, "conflicting Content-Length values"},
        BadCase{"LengthMaxUint64",
                WithHeaders("Content-Length: 18446744073709551615\r\n"), 413,
                "request body too large"},
        BadCase{"LengthOverDefaultLimit",
                WithHeaders("Content-Length: 8388609\r\n"), 413,
                "request body too large"}),
    [](const ::testing::TestParamInfo<BadCase>& info) {
      return std::string(info.param.name);
    });

TEST(RequestParserTest, IdenticalContentLengthsAreOneLength) {
  Outcome out = ParseEverySplit(
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\ncontent-length: "
      "003\r\nContent-Length: 3 , 3\r\n\r\nabc");
  ASSERT_EQ(out.requests.size(), 1u) << out.error_reason;
  EXPECT_EQ(out.requests[0].body, "abc");
}

TEST(RequestParserTest, ErrorIsSticky) {
  RequestParser p;
  p.Feed("GET / HTTP/2.0\r\n\r\n");
  ASSERT_EQ(p.Next(), ParseEvent::kError);
  EXPECT_EQ(p.error().status, 505);
  p.Feed(kGet);
  EXPECT_EQ(p.Next(), ParseEvent::kError);
  EXPECT_EQ(p.error().status, 505);
  EXPECT_TRUE(p.HasPartialRequest());
}

TEST(RequestParserTest, ErrorAfterGoodRequestsKeepsThem) {
  Outcome out = ParseEverySplit(std::string(kGet) + kPost + "BAD\r\n\r\n");
  EXPECT_EQ(out.requests.size(), 2u);
  EXPECT_EQ(out.error_status, 400);
}

TEST(RequestParserTest, HostRequirementCanBeLifted) {
  EXPECT_EQ(Parse("GET / HTTP/1.1\r\n\r\n").error_status, 400);
  Outcome out =
      Parse("GET / HTTP/1.1\r\n\r\n", ParserLimits{.require_host = false});
  EXPECT_EQ(out.requests.size(), 1u) << out.error_reason;
  // HTTP/1.0 never needed one; an empty Host is valid (RFC 9112 3.2).
  EXPECT_EQ(Parse("GET / HTTP/1.0\r\n\r\n").requests.size(), 1u);
  EXPECT_EQ(Parse("GET / HTTP/1.1\r\nHost:\r\n\r\n").requests.size(), 1u);
}

TEST(RequestParserTest, DefaultLimits) {
  ParserLimits limits;
  EXPECT_EQ(limits.max_head_bytes, 16u * 1024);
  EXPECT_EQ(limits.max_body_bytes, 8u * 1024 * 1024);
  EXPECT_TRUE(limits.require_host);
}

// A request head of exactly `size` bytes.
std::string HeadOfSize(size_t size) {
  std::string head = "GET / HTTP/1.1\r\nHost: a\r\nX: \r\n\r\n";
  EXPECT_GE(size, head.size());
  head.insert(head.size() - 4, size - head.size(), 'x');
  EXPECT_EQ(head.size(), size);
  return head;
}

TEST(RequestParserTest, HeadLimitIsInclusive) {
  for (size_t limit : {size_t{40}, size_t{100}, size_t{16 * 1024}}) {
    ParserLimits limits{.max_head_bytes = limit};
    Outcome out = Parse(HeadOfSize(limit), limits);
    EXPECT_EQ(out.requests.size(), 1u) << limit << " " << out.error_reason;
    out = Parse(HeadOfSize(limit + 1), limits);
    EXPECT_EQ(out.error_status, 431) << limit;
    EXPECT_EQ(out.error_reason, "request head too large");
  }
  // The default is 16 KiB.
  EXPECT_EQ(Parse(HeadOfSize(16 * 1024)).requests.size(), 1u);
  EXPECT_EQ(Parse(HeadOfSize(16 * 1024 + 1)).error_status, 431);
}

TEST(RequestParserTest, HeadLimitCountsLeadingEmptyLines) {
  std::string head = HeadOfSize(40);
  ParserLimits limits{.max_head_bytes = 41};
  EXPECT_EQ(Parse("\r\n" + head, limits).error_status, 431);
  EXPECT_EQ(Parse(head, limits).requests.size(), 1u);
}

TEST(RequestParserTest, EndlessHeadIsRejectedWithoutALineEnd) {
  ParserLimits limits{.max_head_bytes = 64};
  RequestParser p(limits);
  p.Feed(std::string(64, 'G'));
  EXPECT_EQ(p.Next(), ParseEvent::kNeedMore);
  p.Feed("G");
  ASSERT_EQ(p.Next(), ParseEvent::kError);
  EXPECT_EQ(p.error().status, 431);
}

TEST(RequestParserTest, BodyLimitIsDecidedFromTheHead) {
  ParserLimits limits{.max_body_bytes = 10};
  std::string ok = WithHeaders("Content-Length: 10\r\n") + "0123456789";
  Outcome out = ParseEverySplit(ok, limits);
  ASSERT_EQ(out.requests.size(), 1u) << out.error_reason;
  EXPECT_EQ(out.requests[0].body, "0123456789");

  // No body byte has arrived when 413 is decided.
  RequestParser p(limits);
  p.Feed(WithHeaders("Content-Length: 11\r\n"));
  ASSERT_EQ(p.Next(), ParseEvent::kError);
  EXPECT_EQ(p.error().status, 413);
  EXPECT_EQ(p.error().reason, "request body too large");
}

TEST(RequestParserTest, DefaultBodyLimitIsEightMebibytes) {
  std::string body(8 * 1024 * 1024, 'b');
  std::string input =
      WithHeaders("Content-Length: " + std::to_string(body.size()) + "\r\n") +
      body;
  Outcome out = Parse(input);
  ASSERT_EQ(out.requests.size(), 1u) << out.error_reason;
  EXPECT_EQ(out.requests[0].body.size(), body.size());
}

struct KeepAliveCase {
  const char* version;
  std::vector<const char*> connection;
  bool keep_alive;
};

class KeepAliveTest : public ::testing::TestWithParam<KeepAliveCase> {};

TEST_P(KeepAliveTest, Decides) {
  const KeepAliveCase& c = GetParam();
  std::string input = std::string("GET / ") + c.version + "\r\nHost: a\r\n";
  for (const char* value : c.connection) {
    input += std::string("Connection: ") + value + "\r\n";
  }
  input += "\r\n";
  Outcome out = Parse(input);
  ASSERT_EQ(out.requests.size(), 1u) << out.error_reason;
  EXPECT_EQ(out.requests[0].keep_alive, c.keep_alive) << input;
}

INSTANTIATE_TEST_SUITE_P(
    Rules, KeepAliveTest,
    ::testing::Values(KeepAliveCase{"HTTP/1.1", {}, true},
                      KeepAliveCase{"HTTP/1.1", {"close"}, false},
                      KeepAliveCase{"HTTP/1.1", {"Close"}, false},
                      KeepAliveCase{"HTTP/1.1", {"keep-alive"}, true},
                      KeepAliveCase{"HTTP/1.1", {"upgrade, close"}, false},
                      KeepAliveCase{"HTTP/1.1", {"keep-alive", "close"}, false},
                      KeepAliveCase{"HTTP/1.1", {"closed"}, true},
                      KeepAliveCase{"HTTP/1.1", {"not-close"}, true},
                      KeepAliveCase{"HTTP/1.0", {}, false},
                      KeepAliveCase{"HTTP/1.0", {"keep-alive"}, true},
                      KeepAliveCase{"HTTP/1.0", {"Keep-Alive"}, true},
                      KeepAliveCase{"HTTP/1.0", {"foo ,\tkeep-alive"}, true},
                      KeepAliveCase{"HTTP/1.0", {"keep-alive, close"}, false},
                      KeepAliveCase{"HTTP/1.0", {"close"}, false},
                      KeepAliveCase{"HTTP/1.0", {"keep-alives"}, false}));

TEST(RequestParserTest, ExpectContinue) {
  auto expect = [](const std::string& input) {
    Outcome out = Parse(input);
    EXPECT_EQ(out.requests.size(), 1u) << out.error_reason;
    return !out.requests.empty() && out.requests[0].expect_continue;
  };
  EXPECT_TRUE(expect(WithHeaders("Expect: 100-continue\r\n")));
  EXPECT_TRUE(expect(WithHeaders("Expect: 100-Continue\r\n")));
  EXPECT_FALSE(expect(WithHeaders("Expect: something\r\n")));
  EXPECT_FALSE(expect(WithHeaders("")));
  // RFC 9110 10.1.1: ignored in HTTP/1.0.
  EXPECT_FALSE(expect("POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n"));
}

TEST(RequestParserTest, PrepareFeedReadsWithoutCopies) {
  std::string body(1 << 20, 'z');
  for (size_t i = 0; i < body.size(); i += 7) body[i] = static_cast<char>(i);
  std::string input =
      WithHeaders("Content-Length: " + std::to_string(body.size()) + "\r\n") +
      body + kGet;
  RequestParser p;
  size_t at = 0;
  std::vector<ParseEvent> events;
  for (;;) {
    ParseEvent e = p.Next();
    if (e == ParseEvent::kNeedMore) {
      if (at == input.size()) break;
      absl::Span<char> space = p.PrepareFeed(1000);
      ASSERT_GE(space.size(), 1000u);
      size_t n = std::min<size_t>(std::min<size_t>(space.size(), 3000),
                                  input.size() - at);
      std::memcpy(space.data(), input.data() + at, n);
      p.CommitFeed(n);
      at += n;
      continue;
    }
    ASSERT_NE(e, ParseEvent::kError) << p.error().reason;
    events.push_back(e);
    if (e == ParseEvent::kRequest && events.size() == 2) {
      EXPECT_TRUE(p.body() == AsView(body));
    }
  }
  EXPECT_THAT(events, ElementsAre(ParseEvent::kHead, ParseEvent::kRequest,
                                  ParseEvent::kHead, ParseEvent::kRequest));
}

TEST(RequestParserTest, BufferShrinksAfterALargeBody) {
  std::string body(1 << 20, 'z');
  RequestParser p;
  p.Feed(
      WithHeaders("Content-Length: " + std::to_string(body.size()) + "\r\n"));
  p.Feed(body);
  ASSERT_EQ(p.Next(), ParseEvent::kHead);
  ASSERT_EQ(p.Next(), ParseEvent::kRequest);
  ASSERT_EQ(p.Next(), ParseEvent::kNeedMore);
  // The megabyte is gone: the free space offered is a fresh small buffer.
  EXPECT_LE(p.PrepareFeed(1).size(), 16u * 1024);
}

TEST(RequestParserTest, GrowingForABodyStopsNearItsEnd) {
  const size_t size = 3 << 20;
  RequestParser p;
  p.Feed(WithHeaders("Content-Length: " + std::to_string(size) + "\r\n"));
  ASSERT_EQ(p.Next(), ParseEvent::kHead);
  size_t fed = 0;
  while (fed < size) {
    absl::Span<char> space = p.PrepareFeed(4096);
    size_t n = std::min(space.size(), size - fed);
    std::memset(space.data(), 'q', n);
    p.CommitFeed(n);
    fed += n;
  }
  ASSERT_EQ(p.Next(), ParseEvent::kRequest);
  // Doubling from 4 KiB would reach 4 MiB; the known size caps the buffer.
  EXPECT_LT(p.PrepareFeed(1).size() + p.buffered_bytes(), size + 16 * 1024);
}

}  // namespace
}  // namespace tidepool::frontend::http
