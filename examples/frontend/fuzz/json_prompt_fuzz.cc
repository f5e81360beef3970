// libFuzzer entry point for the frontend's JSON prompt finder; tools/fuzz.sh
// builds and runs it. The invariants are in json_prompt_check.h.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "examples/frontend/fuzz/json_prompt_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string failure = tidepool::frontend::CheckJsonPrompt(
      absl::string_view(reinterpret_cast<const char*>(data), size));
  if (!failure.empty()) {
    std::fprintf(stderr, "JSON prompt invariant broken: %s\n", failure.c_str());
    std::abort();
  }
  return 0;
}
