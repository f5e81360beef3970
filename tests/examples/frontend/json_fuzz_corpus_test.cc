// Replays every file of the JSON prompt fuzzer's corpus through its
// invariant checks (examples/frontend/fuzz/json_prompt_check.h), so the
// default and sanitizer test runs cover what the fuzzer found without
// running libFuzzer. The corpus paths arrive as arguments (see BUILD.bazel).
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "examples/frontend/fuzz/json_prompt_check.h"
#include "gtest/gtest.h"

namespace {

std::vector<std::string>* corpus_files = nullptr;

TEST(JsonFuzzCorpusTest, EveryFileKeepsTheInvariants) {
  ASSERT_NE(corpus_files, nullptr);
  // The corpus is checked in; an empty list means the paths went missing.
  ASSERT_GE(corpus_files->size(), 10u);
  for (const std::string& path : *corpus_files) {
    std::ifstream in(path, std::ios::binary);
    ASSERT_TRUE(in) << path;
    const std::string body((std::istreambuf_iterator<char>(in)),
                           std::istreambuf_iterator<char>());
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
