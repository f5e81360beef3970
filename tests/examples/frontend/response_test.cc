#include "examples/frontend/http/response.h"

#include <string>

#include "gtest/gtest.h"

namespace tidepool::frontend::http {
namespace {

TEST(ResponseTest, StatusLineAndHeader) {
  std::string out;
  AppendStatusLine(200, &out);
  AppendHeader("X-A", "b c", &out);
  EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nX-A: b c\r\n");
}

TEST(ResponseTest, ReasonPhrases) {
  EXPECT_EQ(ReasonPhrase(100), "Continue");
  EXPECT_EQ(ReasonPhrase(200), "OK");
  EXPECT_EQ(ReasonPhrase(400), "Bad Request");
  EXPECT_EQ(ReasonPhrase(404), "Not Found");
  EXPECT_EQ(ReasonPhrase(405), "Method Not Allowed");
  EXPECT_EQ(ReasonPhrase(408), "Request Timeout");
  EXPECT_EQ(ReasonPhrase(413), "Content Too Large");
  EXPECT_EQ(ReasonPhrase(431), "Request Header Fields Too Large");
  EXPECT_EQ(ReasonPhrase(500), "Internal Server Error");
  EXPECT_EQ(ReasonPhrase(501), "Not Implemented");
  EXPECT_EQ(ReasonPhrase(503), "Service Unavailable");
  EXPECT_EQ(ReasonPhrase(505), "HTTP Version Not Supported");
  EXPECT_EQ(ReasonPhrase(299), "Unknown");
}

TEST(ResponseTest, OutOfRangeStatusBecomes500) {
  std::string out;
  AppendStatusLine(42, &out);
  EXPECT_EQ(out, "HTTP/1.1 500 Internal Server Error\r\n");
}

TEST(ResponseTest, FullResponseKeepAliveHttp11) {
  EXPECT_EQ(FullResponse(200, "hello\n", ResponseOptions{}),
            "HTTP/1.1 200 OK\r\n"
            "Content-Type: text/plain\r\n"
            "Content-Length: 6\r\n"
            "\r\n"
            "hello\n");
}

TEST(ResponseTest, FullResponseKeepAliveHttp10SaysSo) {
  EXPECT_EQ(FullResponse(200, "",
                         ResponseOptions{.content_type = "application/json",
                                         .request_version = Version::kHttp10}),
            "HTTP/1.1 200 OK\r\n"
            "Content-Type: application/json\r\n"
            "Content-Length: 0\r\n"
            "Connection: keep-alive\r\n"
            "\r\n");
}

TEST(ResponseTest, FixedLengthHeadIsAFullResponseWithoutItsBody) {
  for (Version v : {Version::kHttp10, Version::kHttp11}) {
    for (bool keep_alive : {false, true}) {
      const ResponseOptions options{.keep_alive = keep_alive,
                                    .request_version = v};
      const std::string body = "0123456789";
      EXPECT_EQ(FixedLengthResponseHead(200, body.size(), options) + body,
                FullResponse(200, body, options));
    }
  }
  EXPECT_EQ(FixedLengthResponseHead(200, 123456, ResponseOptions{}),
            "HTTP/1.1 200 OK\r\n"
            "Content-Type: text/plain\r\n"
            "Content-Length: 123456\r\n"
            "\r\n");
}

TEST(ResponseTest, FullResponseClose) {
  for (Version v : {Version::kHttp10, Version::kHttp11}) {
    EXPECT_EQ(FullResponse(
                  404, "no\n",
                  ResponseOptions{.keep_alive = false, .request_version = v}),
              "HTTP/1.1 404 Not Found\r\n"
              "Content-Type: text/plain\r\n"
              "Content-Length: 3\r\n"
              "Connection: close\r\n"
              "\r\n"
              "no\n");
  }
}

TEST(ResponseTest, ChunkedHead) {
  EXPECT_EQ(ChunkedResponseHead(200, ResponseOptions{}),
            "HTTP/1.1 200 OK\r\n"
            "Content-Type: text/plain\r\n"
            "Transfer-Encoding: chunked\r\n"
            "\r\n");
  EXPECT_EQ(ChunkedResponseHead(200, ResponseOptions{.keep_alive = false}),
            "HTTP/1.1 200 OK\r\n"
            "Content-Type: text/plain\r\n"
            "Transfer-Encoding: chunked\r\n"
            "Connection: close\r\n"
            "\r\n");
}

TEST(ResponseTest, ChunkFramingIsLowercaseHex) {
  std::string out;
  AppendChunk("a", &out);
  EXPECT_EQ(out, "1\r\na\r\n");
  out.clear();
  AppendChunk(std::string(255, 'x'), &out);
  EXPECT_EQ(out, "ff\r\n" + std::string(255, 'x') + "\r\n");
  out.clear();
  AppendChunk(std::string(4096, 'y'), &out);
  EXPECT_EQ(out, "1000\r\n" + std::string(4096, 'y') + "\r\n");
  out.clear();
  AppendChunk(std::string(0xabc, 'z'), &out);
  EXPECT_EQ(out.substr(0, 5), "abc\r\n");
}

TEST(ResponseTest, EmptyChunkAppendsNothing) {
  std::string out = "keep";
  AppendChunk("", &out);
  EXPECT_EQ(out, "keep");
}

TEST(ResponseTest, LastChunkAndContinue) {
  EXPECT_EQ(kLastChunk, "0\r\n\r\n");
  EXPECT_EQ(kContinueResponse, "HTTP/1.1 100 Continue\r\n\r\n");
}

// Decodes a chunked body the way RFC 9112 7.1 describes; false if malformed.
bool DecodeChunked(absl::string_view in, std::string* out) {
  for (;;) {
    size_t crlf = in.find("\r\n");
    if (crlf == absl::string_view::npos || crlf == 0) return false;
    size_t size = 0;
    for (char c : in.substr(0, crlf)) {
      int d = (c >= '0' && c <= '9')   ? c - '0'
              : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                                       : -1;
      if (d < 0) return false;
      size = size * 16 + d;
    }
    in.remove_prefix(crlf + 2);
    if (size == 0) return in == "\r\n";
    if (in.size() < size + 2 || in.substr(size, 2) != "\r\n") return false;
    out->append(in.data(), size);
    in.remove_prefix(size + 2);
  }
}

TEST(ResponseTest, ChunksDecodeToTheText) {
  std::string text;
  for (int i = 0; i < 5000; ++i) text += static_cast<char>('a' + i % 26);
  std::string body;
  for (size_t i = 0; i < text.size(); i += 1000) {
    AppendChunk(absl::string_view(text).substr(i, 1000), &body);
  }
  body.append(kLastChunk.data(), kLastChunk.size());
  std::string decoded;
  ASSERT_TRUE(DecodeChunked(body, &decoded));
  EXPECT_EQ(decoded, text);
}

TEST(ResponseTest, ErrorResponseClosesAndExplains) {
  EXPECT_EQ(ErrorResponse(400, "bad method"),
            "HTTP/1.1 400 Bad Request\r\n"
            "Content-Type: text/plain\r\n"
            "Content-Length: 28\r\n"
            "Connection: close\r\n"
            "\r\n"
            "400 Bad Request: bad method\n");
  EXPECT_EQ(ErrorResponse(ParseError{413, "request body too large"}),
            ErrorResponse(413, "request body too large"));
  EXPECT_NE(ErrorResponse(413, "x").find("413 Content Too Large: x\n"),
            std::string::npos);
}

}  // namespace
}  // namespace tidepool::frontend::http
