#include "examples/frontend/json_prompt.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "examples/frontend/fuzz/json_prompt_check.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tidepool::frontend {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string Decoded(const JsonString& s) {
  std::string out;
  DecodeJsonString(s, [&](absl::string_view piece) {
    out.append(piece.data(), piece.size());
  });
  return out;
}

absl::StatusOr<std::string> Prompt(absl::string_view body) {
  absl::StatusOr<JsonString> s = FindPrompt(body);
  if (!s.ok()) return s.status();
  return Decoded(*s);
}

TEST(FindPromptTest, FindsThePromptWhereItLies) {
  const std::string body = R"({"a": 1, "prompt": "Hi, you", "b": [true]})";
  absl::StatusOr<JsonString> s = FindPrompt(body);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->raw, "Hi, you");
  EXPECT_FALSE(s->has_escapes);
  EXPECT_EQ(s->raw.data(), body.data() + body.find("Hi"));
}

TEST(FindPromptTest, DecodesEveryEscape) {
  absl::StatusOr<JsonString> s = FindPrompt(
      R"({"prompt": "q\"b\\s\/b\bf\fn\nr\rt\tA\u0041\u00e9\u4e2d\ud83d\ude00\u0000"})");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(s->has_escapes);
  EXPECT_EQ(Decoded(*s), std::string("q\"b\\s/b\bf\fn\nr\rt\tAA\xc3\xa9"
                                     "\xe4\xb8\xad\xf0\x9f\x98\x80\0",
                                     28));
}

TEST(FindPromptTest, KeysCompareDecodedAndTheFirstTopLevelPromptWins) {
  EXPECT_EQ(*Prompt(R"({"pr\u006fmpt": "a", "prompt": "b"})"), "a");
  EXPECT_EQ(*Prompt(R"({"x": {"prompt": "inner"}, "prompt": "outer"})"),
            "outer");
  EXPECT_EQ(*Prompt(R"({"y": ["prompt", {"prompt": 1}], "prompt": ""})"), "");
  EXPECT_EQ(Prompt(R"({"prompt": 1, "prompt": "b"})").status().message(),
            "\"prompt\" is not a string");
  EXPECT_EQ(Prompt(R"({"promptx": "a", "prompT": "b"})").status().message(),
            "missing \"prompt\"");
}

TEST(FindPromptTest, AcceptsTheWholeGrammar) {
  for (
      const char* body : {
          R"({"prompt":"a"})",
          " \t\r\n{ \"prompt\" : \"a\" } \n",
          R"({"prompt": "a", "n": [0, -0, 1.5, -12.25e+3, 7E-2, 1e400, 123456789012345678901234567890]})",
          R"({"prompt": "a", "l": [true, false, null, [], {}, [[]], {"": {}}]})",
          "{\"prompt\": \"caf\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x98\x80 "
          "\xf4\x8f\xbf\xbf\"}",
      }) {
    EXPECT_TRUE(FindPrompt(body).ok())
        << body << ": " << FindPrompt(body).status();
  }
}

// Containers that hold something nest at most kMaxJsonNesting deep, as
// simdjson counts them (an empty one opens nothing): both limits checked
// against it, with a value and with an empty container innermost.
TEST(FindPromptTest, NestingIsLimitedAsSimdjsonLimitsIt) {
  auto nested = [](size_t levels, const std::string& innermost) {
    return "{\"prompt\": \"a\", \"x\": " + std::string(levels - 1, '[') +
           innermost + std::string(levels - 1, ']') + "}";
  };
  for (const std::string& innermost :
       {std::string("0"), std::string("[]"), std::string("{\"k\": {}}")}) {
    const std::string at_limit = nested(kMaxJsonNesting, innermost);
    const std::string over = nested(kMaxJsonNesting + 1, innermost);
    EXPECT_EQ(CheckJsonPrompt(at_limit), "") << innermost;
    EXPECT_EQ(CheckJsonPrompt(over), "") << innermost;
    const bool at_limit_ok = FindPrompt(at_limit).ok();
    const absl::StatusOr<JsonString> over_found = FindPrompt(over);
    // Within the limit unless the innermost value opens another level.
    EXPECT_EQ(at_limit_ok, innermost != "{\"k\": {}}") << innermost;
    if (innermost == "0") {
      ASSERT_FALSE(over_found.ok());
      EXPECT_THAT(std::string(over_found.status().message()),
                  HasSubstr("nested too deep"));
    }
  }
  // An empty container at any depth within the limit opens nothing.
  EXPECT_TRUE(FindPrompt(nested(kMaxJsonNesting + 1, "")).ok());
}

struct BadCase {
  const char* name;
  std::string body;
};

class InvalidJsonTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(InvalidJsonTest, IsInvalidJson) {
  absl::StatusOr<JsonString> s = FindPrompt(GetParam().body);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.status().message()), StartsWith("invalid JSON: "));
}

std::string P(absl::string_view raw) {
  return absl::StrCat("{\"prompt\": \"", raw, "\"}");
}

INSTANTIATE_TEST_SUITE_P(
    Bodies, InvalidJsonTest,
    ::testing::Values(
        BadCase{"empty", ""}, BadCase{"space_only", " \n"},
        BadCase{"after_document", R"({"prompt": "a"}{})"},
        BadCase{"nul_after", std::string("{\"prompt\": \"a\"}\0", 16)},
        BadCase{"trailing_comma_object", R"({"prompt": "a",})"},
        BadCase{"trailing_comma_array", R"({"prompt": "a", "x": [1,]})"},
        BadCase{"missing_colon", R"({"prompt" "a"})"},
        BadCase{"missing_comma", R"({"prompt": "a" "x": 1})"},
        BadCase{"unquoted_key", R"({prompt: "a"})"},
        BadCase{"single_quotes", R"({'prompt': 'a'})"},
        BadCase{"unclosed_array", R"({"prompt": "a", "x": [1})"},
        BadCase{"mismatched", R"({"prompt": "a", "x": [1}])"},
        BadCase{"leading_zero", R"({"prompt": "a", "x": 01})"},
        BadCase{"bare_minus", R"({"prompt": "a", "x": -})"},
        BadCase{"dot_no_digit", R"({"prompt": "a", "x": 1.})"},
        BadCase{"leading_dot", R"({"prompt": "a", "x": .5})"},
        BadCase{"plus", R"({"prompt": "a", "x": +1})"},
        BadCase{"exponent_no_digit", R"({"prompt": "a", "x": 1e+})"},
        BadCase{"hex_number", R"({"prompt": "a", "x": 0x1})"},
        BadCase{"short_literal", R"({"prompt": "a", "x": tru})"},
        BadCase{"literal_tail", R"({"prompt": "a", "x": nullx})"},
        BadCase{"capital_literal", R"({"prompt": "a", "x": True})"},
        BadCase{"unterminated", R"({"prompt": "a)"},
        BadCase{"escape_at_end", "{\"prompt\": \"a\\"},
        BadCase{"raw_newline", P("a\nb")}, BadCase{"raw_tab", P("a\tb")},
        BadCase{"raw_nul", P(std::string("a\0b", 3))},
        BadCase{"bad_escape", P("\\x")}, BadCase{"escaped_quote_q", P("\\'")},
        BadCase{"short_u", P("\\u12")}, BadCase{"bad_hex", P("\\u12G4")},
        BadCase{"lone_high", P("\\ud83d")},
        BadCase{"high_then_text", P("\\ud83dx")},
        BadCase{"high_then_high", P("\\ud83d\\ud83d")},
        BadCase{"lone_low", P("\\ude00")}, BadCase{"overlong_2", P("\xc0\x80")},
        BadCase{"overlong_2b", P("\xc1\xbf")},
        BadCase{"overlong_3", P("\xe0\x80\x80")},
        BadCase{"overlong_4", P("\xf0\x80\x80\x80")},
        BadCase{"utf8_surrogate", P("\xed\xa0\x80")},
        BadCase{"past_max", P("\xf4\x90\x80\x80")},
        BadCase{"f5", P("\xf5\x80\x80\x80")}, BadCase{"ff", P("\xff")},
        BadCase{"stray_continuation", P("\x80")},
        BadCase{"truncated_2", P("\xc3")},
        BadCase{"truncated_3", P("\xe4\xb8")},
        BadCase{"bad_continuation", P("\xe4\x41\x80")},
        BadCase{"utf8_outside_string", "{\"prompt\": \"a\", \xc3\xa9: 1}"},
        BadCase{"bad_key_utf8", "{\"\xff\": 1, \"prompt\": \"a\"}"}),
    [](const ::testing::TestParamInfo<BadCase>& info) {
      return std::string(info.param.name);
    });

// A small deterministic generator of JSON documents and near-misses.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed * 2 + 1) {}
  uint64_t Next() {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 7;
    state_ ^= state_ << 17;
    return state_;
  }
  size_t Below(size_t n) { return static_cast<size_t>(Next() % n); }

 private:
  uint64_t state_;
};

std::string RandomString(Rng& rng) {
  static const std::vector<std::string> kPieces = {"a",
                                                   "prompt",
                                                   "Hi",
                                                   " ",
                                                   "\\n",
                                                   "\\\"",
                                                   "\\\\",
                                                   "\\/",
                                                   "\\t",
                                                   "\\u0041",
                                                   "\\u00e9",
                                                   "\\ud83d\\ude00",
                                                   "\xc3\xa9",
                                                   "\xe4\xb8\xad",
                                                   "\xf0\x9f\x98\x80",
                                                   "\\u0000",
                                                   "1",
                                                   ","};
  std::string s = "\"";
  const size_t n = rng.Below(6);
  for (size_t i = 0; i < n; ++i) s += kPieces[rng.Below(kPieces.size())];
  return s + "\"";
}

std::string RandomValue(Rng& rng, int depth) {
  switch (rng.Below(depth > 3 ? 4 : 6)) {
    case 0:
      return RandomString(rng);
    case 1: {
      static const std::vector<std::string> kNumbers = {
          "0", "-1", "12.5", "3e2", "-0.25E-3", "42", "7.0e+1"};
      return kNumbers[rng.Below(kNumbers.size())];
    }
    case 2: {
      static const std::vector<std::string> kLiterals = {"true", "false",
                                                         "null"};
      return kLiterals[rng.Below(kLiterals.size())];
    }
    case 3:
      return rng.Below(2) == 0 ? "\"prompt\"" : "[]";
    case 4: {
      std::string a = "[";
      const size_t n = rng.Below(4);
      for (size_t i = 0; i < n; ++i) {
        if (i > 0) a += rng.Below(3) == 0 ? " , " : ",";
        a += RandomValue(rng, depth + 1);
      }
      return a + "]";
    }
    default: {
      std::string o = "{";
      const size_t n = rng.Below(4);
      for (size_t i = 0; i < n; ++i) {
        if (i > 0) o += ", ";
        o += rng.Below(3) == 0 ? "\"prompt\"" : RandomString(rng);
        o += rng.Below(2) == 0 ? ": " : ":";
        o += RandomValue(rng, depth + 1);
      }
      return o + "}";
    }
  }
}

void Mutate(Rng& rng, std::string* s) {
  static const std::string kBytes = {
      '"', '\\', '{', '}',    '[',    ']',    ',',    ':',    '0', 'e',
      '-', 'u',  ' ', '\x01', '\x80', '\xc3', '\xed', '\xff', 'a'};
  const size_t count = 1 + rng.Below(3);
  for (size_t i = 0; i < count && !s->empty(); ++i) {
    const size_t at = rng.Below(s->size());
    switch (rng.Below(3)) {
      case 0:
        (*s)[at] = kBytes[rng.Below(kBytes.size())];
        break;
      case 1:
        s->erase(at, 1);
        break;
      default:
        s->insert(at, 1, kBytes[rng.Below(kBytes.size())]);
    }
  }
}

// FindPrompt against simdjson's DOM parser (json_prompt_check.h) on
// generated documents and mutations of them.
TEST(FindPromptTest, AgreesWithSimdjsonOnGeneratedDocuments) {
  Rng rng(20261206);
  int valid = 0;
  int with_prompt = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string body;
    if (rng.Below(4) == 0) {
      body = RandomValue(rng, 0);
    } else {
      body = "{";
      const size_t fields = rng.Below(4);
      for (size_t f = 0; f < fields; ++f) {
        body += RandomString(rng) + ": " + RandomValue(rng, 1) + ", ";
      }
      body += "\"prompt\": " +
              (rng.Below(5) == 0 ? RandomValue(rng, 1) : RandomString(rng)) +
              "}";
    }
    if (rng.Below(2) == 0) Mutate(rng, &body);
    ASSERT_EQ(CheckJsonPrompt(body), "") << body;
    const absl::StatusOr<JsonString> found = FindPrompt(body);
    if (!found.ok() && !absl::StartsWith(found.status().message(), "invalid")) {
      ++valid;
    }
    if (found.ok()) {
      ++valid;
      ++with_prompt;
    }
  }
  // The generator reaches every branch.
  EXPECT_GT(valid, 5000);
  EXPECT_GT(with_prompt, 3000);
}

}  // namespace
}  // namespace tidepool::frontend
