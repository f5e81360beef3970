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
// through PrepareFeed/CommitFeed; every request's body has Content-Length
// bytes and is exactly the bytes that followed its head; method, target and
// fields obey the grammar; limits hold; an error's status is one of 400, 413,
// 431, 501, 505 and stays; a request written back out canonically parses to
// the same request. Cost: about five parses of the input.
//
//   std::string failure = CheckRequestParser(data, size);
//   if (!failure.empty()) { print(failure); abort(); }

#include <cstddef>
#include <cstdint>
#include <string>

namespace tidepool::frontend::http {

// "" if every invariant holds, else what broke.
std::string CheckRequestParser(const uint8_t* data, size_t size);

}  // namespace tidepool::frontend::http

#endif  // TIDEPOOL_EXAMPLES_FRONTEND_FUZZ_REQUEST_PARSER_CHECK_H_
