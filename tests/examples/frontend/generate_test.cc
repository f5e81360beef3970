#include "examples/frontend/generate.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tidepool::frontend {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Expected ids below are FNV-1a 32 hashes worked out by hand (and against the
// published test vectors "a" = 0xe40c292c, "foobar" = 0xbf9cf968), reduced
// modulo 50257.
constexpr uint32_t kHi = 6215;      // 0x67eb44ba
constexpr uint32_t kComma = 18964;  // 0x290c95cb
constexpr uint32_t kYou = 13929;    // 0x50b8d09c

TEST(TokenIdTest, HandComputedIds) {
  EXPECT_EQ(TokenId(""), 2166136261u % 50257);  // The offset basis alone.
  EXPECT_EQ(TokenId("a"), 0xe40c292cu % 50257);
  EXPECT_EQ(TokenId("a"), 37324u);
  EXPECT_EQ(TokenId("foobar"), 0xbf9cf968u % 50257);
  EXPECT_EQ(TokenId("foobar"), 46715u);
  EXPECT_EQ(TokenId("Hi"), 0x67eb44bau % 50257);
  EXPECT_EQ(TokenId("Hi"), kHi);
  EXPECT_EQ(TokenId(","), kComma);
  EXPECT_EQ(TokenId("you"), kYou);
  EXPECT_EQ(TokenId(std::string(1, '\0')), 13306u);
  EXPECT_EQ(TokenId("\xc3"), 29244u);
}

TEST(TokenizeTest, WordsAndPunctuation) {
  EXPECT_THAT(Tokenize("Hi, you"), ElementsAre(kHi, kComma, kYou));
  EXPECT_THAT(Tokenize(" Hi ,you "), ElementsAre(kHi, kComma, kYou));
}

TEST(TokenizeTest, LettersAndDigitsFormOneToken) {
  EXPECT_THAT(Tokenize("abc123"), ElementsAre(14694u));
  EXPECT_THAT(Tokenize("foobar"), ElementsAre(46715u));
}

TEST(TokenizeTest, EveryOtherByteIsItsOwnToken) {
  // '_' is not alphanumeric, and each byte of a UTF-8 sequence stands alone.
  EXPECT_THAT(Tokenize("a_a"), ElementsAre(37324u, 19000u, 37324u));
  EXPECT_THAT(Tokenize(",,"), ElementsAre(kComma, kComma));
  EXPECT_THAT(Tokenize("caf\xc3\xa9"), ElementsAre(3824u, 29244u, 45275u));
  EXPECT_THAT(Tokenize(std::string("a\0a", 3)),
              ElementsAre(37324u, 13306u, 37324u));
}

TEST(TokenizeTest, AsciiWhitespaceSeparates) {
  EXPECT_THAT(Tokenize("a\tHi\nyou\rHi\fa\va  a"),
              ElementsAre(37324u, kHi, kYou, kHi, 37324u, 37324u, 37324u));
  EXPECT_THAT(Tokenize(" \t\n\r\f\v"), IsEmpty());
  EXPECT_THAT(Tokenize(""), IsEmpty());
  // 0x1c-0x1f are whitespace to Unicode's isspace but not to this protocol;
  // 0xa0 (no-break space in Latin-1) is just a byte.
  EXPECT_EQ(Tokenize("a\x1f"
                     "a")
                .size(),
            3u);
  EXPECT_EQ(Tokenize("a\xa0"
                     "a")
                .size(),
            3u);
}

TEST(FormatIdsTest, SpacesAndLineBreaks) {
  EXPECT_EQ(FormatIds({}), "");
  EXPECT_EQ(FormatIds({kHi, kComma, kYou}), "6215 18964 13929 \n");
  EXPECT_EQ(FormatIds({0, 50256}), "0 50256 \n");

  std::vector<uint32_t> sixteen(16, 7);
  std::string line;
  for (int i = 0; i < 16; ++i) line += "7 ";
  line += "\n";
  // A full last line gets exactly one newline.
  EXPECT_EQ(FormatIds(sixteen), line);
  std::vector<uint32_t> seventeen(17, 7);
  EXPECT_EQ(FormatIds(seventeen), line + "7 \n");
  std::vector<uint32_t> thirty_two(32, 7);
  EXPECT_EQ(FormatIds(thirty_two), line + line);
}

// Ids outside the vocabulary still come out whole: a full line of the
// widest ones fills the line buffer exactly.
TEST(FormatIdsTest, AnyIdIsFormattedWhole) {
  std::vector<uint32_t> widest(16, 4294967295u);
  std::string line;
  for (int i = 0; i < 16; ++i) line += "4294967295 ";
  line += "\n";
  EXPECT_EQ(FormatIds(widest), line);
  EXPECT_EQ(FormatIds({100000, 7}), "100000 7 \n");
}

TEST(GenerateTest, ExampleFromTheProtocol) {
  absl::StatusOr<std::string> out = Generate(R"({"prompt": "Hi, you"})");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "6215 18964 13929 \n");
}

TEST(GenerateTest, OtherFieldsAreIgnoredAndEscapesDecoded) {
  absl::StatusOr<std::string> out = Generate(
      R"({"max_tokens": 5, "prompt": "\u0048i\u002c\tyou", "x": [1, {}]})");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "6215 18964 13929 \n");
  // "é" escaped becomes two UTF-8 bytes, two tokens.
  out = Generate(R"({"prompt": "caf\u00e9"})");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "3824 29244 45275 \n");
}

// The prompt is decoded in runs between its escapes: a token runs on
// across an escape, and whitespace or punctuation from an escape ends one.
TEST(GenerateTest, TokensSpanEscapes) {
  absl::StatusOr<std::string> out = Generate(R"({"prompt": "ab\u0063d"})");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, FormatIds({TokenId("abcd")}));
  out = Generate(R"({"prompt": "ab\ncd\"e"})");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, FormatIds({TokenId("ab"), TokenId("cd"), TokenId("\""),
                             TokenId("e")}));
}

TEST(GenerateTest, FirstPromptWins) {
  absl::StatusOr<std::string> out =
      Generate(R"({"prompt": "Hi", "prompt": "you"})");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "6215 \n");
}

TEST(GenerateTest, EmptyPromptGivesEmptyOutput) {
  absl::StatusOr<std::string> out = Generate(R"({"prompt": " \n "})");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, "");
}

TEST(GenerateTest, MatchesTokenizeAndFormatIdsOnALongPrompt) {
  std::string prompt;
  for (int i = 0; i < 3000; ++i) {
    prompt += "word" + std::to_string(i % 97) + (i % 5 == 0 ? ", " : " ");
  }
  absl::StatusOr<std::string> out =
      Generate("{\"prompt\": \"" + prompt + "\"}");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, FormatIds(Tokenize(prompt)));
  EXPECT_GT(out->size(), kMaxChunkBytes);
}

// Every block but the last is exactly kTextBlockBytes, so the chunks of
// the blocks are the chunks of the whole text (rule 5).
TEST(GenerateTextTest, FullBlocksThenTheRest) {
  std::string prompt;
  for (int i = 0; i < 40000; ++i) prompt += "w" + std::to_string(i) + " ";
  const std::string body = "{\"prompt\": \"" + prompt + "\"}";
  absl::StatusOr<TokenText> text = GenerateText(body);
  ASSERT_TRUE(text.ok()) << text.status();
  ASSERT_GE(text->blocks.size(), 3u);
  for (size_t i = 0; i + 1 < text->blocks.size(); ++i) {
    EXPECT_EQ(text->blocks[i].size(), kTextBlockBytes) << i;
  }
  EXPECT_GT(text->blocks.back().size(), 0u);
  EXPECT_LE(text->blocks.back().size(), kTextBlockBytes);
  EXPECT_EQ(kTextBlockBytes % kMaxChunkBytes, 0u);
  EXPECT_EQ(text->Join(), FormatIds(Tokenize(prompt)));
  EXPECT_EQ(text->size(), text->Join().size());
  EXPECT_EQ(*Generate(body), text->Join());

  absl::StatusOr<TokenText> empty = GenerateText(R"({"prompt": ""})");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->blocks.empty());
}

TEST(ExtractPromptTest, ReturnsTheDecodedString) {
  absl::StatusOr<std::string> p = ExtractPrompt(R"({"prompt":"a\"b\\c\n"})");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(*p, "a\"b\\c\n");
}

struct JsonErrorCase {
  const char* body;
  const char* message;
};

class JsonErrorTest : public ::testing::TestWithParam<JsonErrorCase> {};

TEST_P(JsonErrorTest, IsInvalidArgument) {
  absl::StatusOr<std::string> out = Generate(GetParam().body);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(out.status().message()),
              HasSubstr(GetParam().message));
  EXPECT_EQ(HttpStatusFor(out.status()), 400);
  EXPECT_EQ(ExtractPrompt(GetParam().body).status(), out.status());
}

INSTANTIATE_TEST_SUITE_P(
    Bodies, JsonErrorTest,
    ::testing::Values(
        JsonErrorCase{"", "invalid JSON"}, JsonErrorCase{"{", "invalid JSON"},
        JsonErrorCase{R"({"prompt": "a")", "invalid JSON"},
        JsonErrorCase{R"({"prompt": "a"} x)", "invalid JSON"},
        JsonErrorCase{R"({"prompt": "a", "x": })", "invalid JSON"},
        JsonErrorCase{R"({prompt: "a"})", "invalid JSON"},
        JsonErrorCase{"{\"prompt\": \"\xff\"}", "invalid JSON"},
        JsonErrorCase{"{\"prompt\": \"a\x01\"}", "invalid JSON"},
        JsonErrorCase{R"(["prompt"])", "not a JSON object"},
        JsonErrorCase{R"("prompt")", "not a JSON object"},
        JsonErrorCase{"{}", "missing \"prompt\""},
        JsonErrorCase{R"({"Prompt": "a"})", "missing \"prompt\""},
        JsonErrorCase{R"({"x": {"prompt": "a"}})", "missing \"prompt\""},
        JsonErrorCase{R"({"prompt": 5})", "\"prompt\" is not a string"},
        JsonErrorCase{R"({"prompt": null})", "\"prompt\" is not a string"},
        JsonErrorCase{R"({"prompt": ["a"]})", "\"prompt\" is not a string"}));

TEST(HttpStatusForTest, Codes) {
  EXPECT_EQ(HttpStatusFor(absl::OkStatus()), 200);
  EXPECT_EQ(HttpStatusFor(absl::InvalidArgumentError("x")), 400);
  EXPECT_EQ(HttpStatusFor(absl::InternalError("x")), 500);
}

TEST(SplitIntoChunksTest, PiecesOfAtMost4096) {
  EXPECT_EQ(kMaxChunkBytes, 4096u);
  EXPECT_THAT(SplitIntoChunks(""), IsEmpty());
  std::string text(10000, 'x');
  for (size_t i = 0; i < text.size(); ++i) text[i] = static_cast<char>(i % 251);
  std::vector<absl::string_view> chunks = SplitIntoChunks(text);
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(chunks[0].size(), 4096u);
  EXPECT_EQ(chunks[1].size(), 4096u);
  EXPECT_EQ(chunks[2].size(), 1808u);
  std::string joined;
  for (absl::string_view c : chunks) joined.append(c.data(), c.size());
  EXPECT_EQ(joined, text);

  const std::string full(4096, 'a');
  EXPECT_EQ(SplitIntoChunks(full).size(), 1u);
  const std::string over(4097, 'a');
  std::vector<absl::string_view> two = SplitIntoChunks(over);
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[1].size(), 1u);
  EXPECT_THAT(SplitIntoChunks("abcde", 2), ElementsAre("ab", "cd", "e"));
}

}  // namespace
}  // namespace tidepool::frontend
