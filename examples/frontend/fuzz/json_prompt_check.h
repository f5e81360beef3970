#ifndef TIDEPOOL_EXAMPLES_FRONTEND_FUZZ_JSON_PROMPT_CHECK_H_
#define TIDEPOOL_EXAMPLES_FRONTEND_FUZZ_JSON_PROMPT_CHECK_H_

// The invariants the JSON prompt finder's fuzzer checks on one input (a
// request body), shared by the libFuzzer target (json_prompt_fuzz.cc, built
// by tools/fuzz.sh), the Bazel test that replays its checked-in corpus and
// the generated-document test (tests/examples/frontend).
//
// Checked against simdjson's DOM parser as the reference: the same verdict
// on validity, on the top level being an object, on the first "prompt"
// being there and being a string, and the same decoded prompt; a prompt
// FindPrompt returns lies inside the body; Generate succeeds exactly when
// FindPrompt does. One known difference is let through: simdjson rejects
// numbers beyond a double's or a 64-bit integer's range, which JSON's
// grammar allows and FindPrompt accepts (the values are never used).
//
//   std::string failure = CheckJsonPrompt(body);
//   if (!failure.empty()) { print(failure); abort(); }

#include <string>

#include "absl/strings/string_view.h"

namespace tidepool::frontend {

// Empty if every invariant holds, else what broke.
std::string CheckJsonPrompt(absl::string_view body);

}  // namespace tidepool::frontend

#endif  // TIDEPOOL_EXAMPLES_FRONTEND_FUZZ_JSON_PROMPT_CHECK_H_
