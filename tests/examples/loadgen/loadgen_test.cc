// The request bodies and the response parser of examples/loadgen.
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "examples/frontend/generate.h"
#include "examples/loadgen/payload.h"
#include "examples/loadgen/response_parser.h"
#include "gtest/gtest.h"

namespace tidepool::loadgen {
namespace {

TEST(PayloadTest, BodyHasExactlyTheRequestedSizeAndDecodesToThePrompt) {
  std::vector<size_t> sizes;
  for (size_t n = kMinBodyBytes; n < 600; ++n) sizes.push_back(n);
  sizes.push_back(1024);
  sizes.push_back(200 * 1024);
  for (size_t n : sizes) {
    absl::StatusOr<Payload> p = MakePayload(n, /*seed=*/3);
    ASSERT_TRUE(p.ok()) << n << ": " << p.status();
    EXPECT_EQ(p->body.size(), n);
    absl::StatusOr<std::string> prompt = frontend::ExtractPrompt(p->body);
    ASSERT_TRUE(prompt.ok()) << n << ": " << prompt.status();
    EXPECT_EQ(*prompt, p->prompt) << n;
    EXPECT_TRUE(frontend::Generate(p->body).ok()) << n;
  }
}

TEST(PayloadTest, TooSmallIsInvalid) {
  EXPECT_FALSE(MakePayload(kMinBodyBytes - 1, 1).ok());
  EXPECT_EQ(MakePayload(kMinBodyBytes, 1)->body, "{\"prompt\": \"\"}");
}

TEST(PayloadTest, DeterministicPerSeedAndVariedAcrossSeeds) {
  EXPECT_EQ(MakePayload(4096, 1)->body, MakePayload(4096, 1)->body);
  EXPECT_NE(MakePayload(4096, 1)->body, MakePayload(4096, 2)->body);
}

TEST(PayloadTest, PromptHasEveryKindOfText) {
  const std::string prompt = MakePayload(64 * 1024, 1)->prompt;
  for (absl::string_view needle :
       {" ", "\n", "\t", "\"", "\\", "\x01", "\xC3\xA9", ",", "(", "0"}) {
    EXPECT_NE(prompt.find(needle.data(), 0, needle.size()), std::string::npos)
        << "no " << absl::CEscape(needle);
  }
  // Many distinct tokens, not one word repeated.
  EXPECT_GT(frontend::Tokenize(prompt).size(), 5000u);
}

TEST(PayloadTest, JsonEscape) {
  EXPECT_EQ(JsonEscape("a\"b\\c\nd\te\rf\x01g\x1F\xC3\xA9"),
            "a\\\"b\\\\c\\nd\\te\\rf\\u0001g\\u001f\xC3\xA9");
}

TEST(PayloadTest, Request) {
  EXPECT_EQ(MakeRequest("h:1", "{}"),
            "POST /v1/generate HTTP/1.1\r\nHost: h:1\r\n"
            "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
  EXPECT_EQ(MakeRequest("h:1", "{}", /*close=*/true),
            "POST /v1/generate HTTP/1.1\r\nHost: h:1\r\nConnection: close\r\n"
            "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
}

// The response the frontend sends for `body`, built from the same pieces.
std::string ChunkedResponse(absl::string_view text) {
  std::string out =
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n"
      "Transfer-Encoding: chunked\r\n\r\n";
  for (absl::string_view piece : frontend::SplitIntoChunks(text)) {
    absl::StrAppend(&out, absl::Hex(piece.size()), "\r\n", piece, "\r\n");
  }
  return out + "0\r\n\r\n";
}

// Feeds `wire` in pieces of `step` bytes; returns the bytes consumed.
size_t FeedInSteps(ResponseParser& p, absl::string_view wire, size_t step) {
  size_t used = 0;
  while (used < wire.size() && !p.done() && !p.failed()) {
    used += p.Feed(wire.substr(used, step));
  }
  return used;
}

TEST(ResponseParserTest, ChunkedBodyMatchesGenerateHoweverSplit) {
  const std::string body = MakePayload(20000, 5)->body;
  const std::string expected = *frontend::Generate(body);
  const std::string wire = ChunkedResponse(expected);
  for (size_t step :
       {size_t{1}, size_t{2}, size_t{7}, size_t{4096}, wire.size()}) {
    ResponseParser p;
    std::string sink;
    p.Reset(&expected, &sink);
    EXPECT_EQ(FeedInSteps(p, wire + "HTTP/1.1 next", step), wire.size());
    ASSERT_TRUE(p.done()) << step << ": " << p.error();
    EXPECT_EQ(p.status(), 200);
    EXPECT_TRUE(p.chunked());
    EXPECT_TRUE(p.keep_alive());
    EXPECT_TRUE(p.body_matches());
    EXPECT_EQ(sink, expected);
    EXPECT_EQ(p.body_bytes(), expected.size());
    EXPECT_GT(p.chunk_count(), 1u);
    EXPECT_EQ(p.max_chunk_bytes(), frontend::kMaxChunkBytes);
  }
}

TEST(ResponseParserTest, ExtensionsTrailersAndInterimResponses) {
  const std::string wire =
      "HTTP/1.1 100 Continue\r\n\r\n"
      "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, Chunked\r\n\r\n"
      "3;name=value\r\nabc\r\nA \t; x\r\n0123456789\r\n"
      "0;last\r\nX-Trailer: 1\r\n\r\n";
  const std::string expected = "abc0123456789";
  ResponseParser p;
  p.Reset(&expected);
  EXPECT_EQ(p.Feed(wire), wire.size());
  ASSERT_TRUE(p.done()) << p.error();
  EXPECT_TRUE(p.body_matches());
  EXPECT_EQ(p.chunk_count(), 2u);
}

TEST(ResponseParserTest, ContentLengthAndKeepAlive) {
  ResponseParser p;
  std::string sink;
  p.Reset(nullptr, &sink);
  p.Feed(
      "HTTP/1.1 400 Bad Request\r\nContent-Length: 4\r\n"
      "Connection: close\r\n\r\nbad\n");
  ASSERT_TRUE(p.done());
  EXPECT_EQ(p.status(), 400);
  EXPECT_FALSE(p.chunked());
  EXPECT_FALSE(p.keep_alive());
  EXPECT_EQ(sink, "bad\n");

  p.Reset();
  p.Feed("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n");
  ASSERT_TRUE(p.done());
  EXPECT_FALSE(p.keep_alive());
  p.Reset();
  p.Feed(
      "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0"
      "\r\n\r\n");
  EXPECT_TRUE(p.keep_alive());

  // No framing: the body runs to end of stream.
  p.Reset();
  p.Feed("HTTP/1.1 200 OK\r\n\r\nsome");
  EXPECT_FALSE(p.done());
  p.FinishAtEof();
  ASSERT_TRUE(p.done());
  EXPECT_FALSE(p.keep_alive());
  EXPECT_EQ(p.body_bytes(), 4u);
}

TEST(ResponseParserTest, BodyDifferences) {
  const std::string expected = "12 34 \n";
  struct Case {
    std::string body;
    uint64_t at;
  };
  for (const Case& c : {Case{"12 35 \n", 4}, Case{"12 34", 5},
                        Case{"12 34 \nX", 7}, Case{"", 0}}) {
    ResponseParser p;
    p.Reset(&expected);
    const std::string wire =
        c.body.empty()
            ? "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked"
              "\r\n\r\n0\r\n\r\n"
            : absl::StrCat(
                  "HTTP/1.1 200 OK\r\nTransfer-Encoding: "
                  "chunked\r\n\r\n",
                  absl::Hex(c.body.size()), "\r\n", c.body, "\r\n0\r\n\r\n");
    p.Feed(wire);
    ASSERT_TRUE(p.done()) << p.error();
    EXPECT_FALSE(p.body_matches()) << c.body;
    EXPECT_EQ(p.first_difference(), c.at) << c.body;
  }
}

TEST(ResponseParserTest, FramingErrors) {
  const std::string head =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (const std::string& wire : {
           std::string("HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n"),
           std::string("HTTP/2 200\r\n\r\n"),
           std::string("HTTP/1.1 20 OK\r\n\r\n"),
           std::string("HTTP/1.1 200 OK\r\nNo colon\r\n\r\n"),
           std::string("HTTP/1.1 200 OK\r\n folded: x\r\n\r\n"),
           std::string("HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n"),
           std::string("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
                       "Content-Length: 2\r\n\r\n"),
           head + "3\r\nabcX\r\n",
           head + "g\r\n",
           head + "\r\n",
           head + "3 x\r\n",
           head + "3\r\nabc\r\n0\r\nno colon\r\n",
           head + std::string(ResponseParser::kMaxLineBytes + 1, '0') + "\r\n",
           head + std::string(ResponseParser::kMaxLineBytes + 2, '0'),
       }) {
    ResponseParser p;
    p.Feed(wire);
    EXPECT_TRUE(p.failed()) << absl::CEscape(wire.substr(0, 120));
  }
}

TEST(ResponseParserTest, EndOfStream) {
  ResponseParser p;
  p.FinishAtEof();
  EXPECT_TRUE(p.failed());
  EXPECT_EQ(p.error(), "end of stream before the response");
  p.Reset();
  p.Feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab");
  p.FinishAtEof();
  EXPECT_TRUE(p.failed());
  p.Reset();
  p.Feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n");
  EXPECT_FALSE(p.done());  // the empty line after the trailers is missing
  p.FinishAtEof();
  EXPECT_TRUE(p.failed());
}

}  // namespace
}  // namespace tidepool::loadgen
