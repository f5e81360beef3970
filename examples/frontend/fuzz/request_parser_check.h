#ifndef TIDEPOOL_EXAMPLES_FRONTEND_FUZZ_REQUEST_PARSER_CHECK_H_
#define TIDEPOOL_EXAMPLES_FRONTEND_FUZZ_REQUEST_PARSER_CHECK_H_

// The invariants the request parser's fuzzer checks on one input, shared by
// the libFuzzer target (request_parser_fuzz.cc, built by tools/fuzz.sh) and
// the Bazel test that replays the checked-in corpus
// (tests/examples/frontend/fuzz_corpus_test.cc).
//
// Input layout: the first byte picks the configuration, the rest is the byte
// stream a client sent.
//   bits 0-1: limits; 0 the defaults, 1 max_head_bytes = 64, 2
//             max_body_bytes = 16, 3 both
//   bit 2:    require_host off
//   bits 3-7: seed for the random split
// So a corpus file reads as "0GET / HTTP/1.1\r\n..." ('0' is 0x30: default
// limits, Host required).
//
// Checked: the stream parses to the same requests and the same final state
// (error with status and reason, or waiting with or without a partial
// request) whether fed whole, one byte at a time, in random pieces, or
// through PrepareFeed/CommitFeed (with bodies taken by TakeBody and idle
// buffers released, or not); every
// request's body has Content-Length bytes and is exactly the bytes that
// followed its head; method, target and fields obey the grammar; limits hold;
// an error's status is one of 400, 413, 431, 501, 505 and stays; a request
// written back out canonically parses to the same request. Cost: about six
// parses of the input.
//
//   std::string failure = CheckRequestParser(data, size);
//   if (!failure.empty()) { print(failure); abort(); }

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "examples/frontend/http/request_parser.h"

namespace tidepool::frontend::http {

// "" if every invariant holds, else what broke.
std::string CheckRequestParser(const uint8_t* data, size_t size);

// The recorder the checker is built on, also used by the parser's unit test:
// what a byte stream parses to, as plain values that compare.

// Everything observable about one parsed request.
struct ParsedRequest {
  std::string method;
  std::string target;
  Version version = Version::kHttp11;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  uint64_t content_length = 0;
  bool keep_alive = false;
  bool expect_continue = false;
  size_t request_bytes = 0;

  // Equal but for request_bytes (a request written back out canonically
  // may be shorter or longer).
  bool SameRequest(const ParsedRequest& o) const;
  bool operator==(const ParsedRequest&) const = default;
};

// A stream's requests, then either an error or the parser waiting for more.
struct ParseOutcome {
  std::vector<ParsedRequest> requests;
  int heads = 0;
  int error_status = 0;  // 0: no error, the parser wants more bytes
  std::string error_reason;
  bool partial = false;  // a request was under way when it stopped
  size_t buffered = 0;   // bytes held while waiting (0 after an error)

  bool operator==(const ParseOutcome&) const = default;
};

// The request the parser just reported (after ParseEvent::kRequest).
ParsedRequest CaptureRequest(const RequestParser& p);
// Runs Next() until the parser wants bytes or fails, recording into `out`;
// false once an error was seen. With `take_bodies`, each request's body is
// recorded from TakeBody() instead of body().
bool DrainParser(RequestParser& p, ParseOutcome& out, bool take_bodies = false);

}  // namespace tidepool::frontend::http

#endif  // TIDEPOOL_EXAMPLES_FRONTEND_FUZZ_REQUEST_PARSER_CHECK_H_
