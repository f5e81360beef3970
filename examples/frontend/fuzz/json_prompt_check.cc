#include "examples/frontend/fuzz/json_prompt_check.h"

#include <string_view>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "examples/frontend/generate.h"
#include "examples/frontend/json_prompt.h"
#include "simdjson.h"

namespace tidepool::frontend {
namespace {

// What the reference makes of `body`: an empty string for a valid
// document with a string prompt (and the prompt in `*prompt`), else the
// message FindPrompt must give, or a prefix of it. `*number_error`: simdjson
// failed on a number.
std::string Reference(absl::string_view body, std::string* prompt,
                      bool* number_error) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  const simdjson::error_code error =
      parser.parse(body.data(), body.size()).get(doc);
  *number_error = error == simdjson::NUMBER_ERROR;
  if (error) return "invalid JSON";
  simdjson::dom::object object;
  if (doc.get_object().get(object) != simdjson::SUCCESS) {
    return "body is not a JSON object";
  }
  simdjson::dom::element value;
  if (object["prompt"].get(value) != simdjson::SUCCESS) {
    return "missing \"prompt\"";
  }
  std::string_view text;
  if (value.get_string().get(text) != simdjson::SUCCESS) {
    return "\"prompt\" is not a string";
  }
  *prompt = std::string(text);
  return "";
}

}  // namespace

std::string CheckJsonPrompt(absl::string_view body) {
  const absl::StatusOr<JsonString> found = FindPrompt(body);
  if (found.ok() != Generate(body).ok()) {
    return "Generate and FindPrompt disagree";
  }
  if (found.ok() &&
      (found->raw.data() < body.data() ||
       found->raw.data() + found->raw.size() > body.data() + body.size())) {
    return "the prompt does not lie inside the body";
  }
  std::string prompt;
  bool number_error = false;
  const std::string expected = Reference(body, &prompt, &number_error);
  // The known difference: a number whose syntax is valid but whose value
  // simdjson cannot hold, in a document FindPrompt found valid (its verdict
  // may then be any of the others). A malformed number is invalid to both.
  if (number_error && (found.ok() || !absl::StartsWith(found.status().message(),
                                                       "invalid JSON"))) {
    return "";
  }
  if (expected.empty()) {
    if (!found.ok()) {
      return absl::StrCat("simdjson accepts, FindPrompt says: ",
                          found.status().message());
    }
    if (*ExtractPrompt(body) != prompt) return "the decoded prompts differ";
    return "";
  }
  if (found.ok()) {
    return absl::StrCat("FindPrompt accepts, simdjson says: ", expected);
  }
  if (!absl::StartsWith(found.status().message(), expected)) {
    return absl::StrCat("simdjson says \"", expected, "\", FindPrompt says \"",
                        found.status().message(), "\"");
  }
  return "";
}

}  // namespace tidepool::frontend
