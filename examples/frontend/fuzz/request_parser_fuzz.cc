// libFuzzer entry point for the HTTP request parser; tools/fuzz.sh builds and
// runs it. The invariants are in request_parser_check.h.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "examples/frontend/fuzz/request_parser_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string failure =
      tidepool::frontend::http::CheckRequestParser(data, size);
  if (!failure.empty()) {
    std::fprintf(stderr, "request parser invariant broken: %s\n",
                 failure.c_str());
    std::abort();
  }
  return 0;
}
