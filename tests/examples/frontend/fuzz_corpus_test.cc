// Replays every file of the frontend's fuzz corpora through the fuzzers'
// invariant checks, so the default and sanitizer test runs cover what the
// fuzzers found without running libFuzzer: the HTTP request parser's
// (corpus/, request_parser_check.h) and the JSON prompt finder's
// (json_corpus/, json_prompt_check.h). The corpus paths arrive as arguments
// (see BUILD.bazel).
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "examples/frontend/fuzz/json_prompt_check.h"
#include "examples/frontend/fuzz/request_parser_check.h"
#include "gtest/gtest.h"

namespace {

std::vector<std::string>* corpus_files = nullptr;

// The files under `dir` (a corpus directory's name), read whole.
std::vector<std::pair<std::string, std::string>> Corpus(
    const std::string& dir) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const std::string& path : *corpus_files) {
    if (path.find("/" + dir + "/") == std::string::npos) continue;
    std::ifstream in(path, std::ios::binary);
    EXPECT_TRUE(in) << path;
    out.emplace_back(path, std::string(std::istreambuf_iterator<char>(in),
                                       std::istreambuf_iterator<char>()));
  }
  return out;
}

TEST(FuzzCorpusTest, EveryHttpFileKeepsTheInvariants) {
  ASSERT_NE(corpus_files, nullptr);
  const auto files = Corpus("corpus");
  // The corpus is checked in; too few files means the paths went missing.
  ASSERT_GE(files.size(), 10u);
  for (const auto& [path, data] : files) {
    EXPECT_EQ(tidepool::frontend::http::CheckRequestParser(
                  reinterpret_cast<const uint8_t*>(data.data()), data.size()),
              "")
        << path;
  }
}

TEST(FuzzCorpusTest, EveryJsonFileKeepsTheInvariants) {
  ASSERT_NE(corpus_files, nullptr);
  const auto files = Corpus("json_corpus");
  ASSERT_GE(files.size(), 10u);
  for (const auto& [path, body] : files) {
    EXPECT_EQ(tidepool::frontend::CheckJsonPrompt(body), "") << path;
  }
}

}  // namespace

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  std::vector<std::string> files(argv + 1, argv + argc);
  corpus_files = &files;
  return RUN_ALL_TESTS();
}
