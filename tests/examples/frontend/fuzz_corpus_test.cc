// Replays every file of the request parser's fuzz corpus through the
// fuzzer's invariant checks, so the default and sanitizer test runs cover
// what the fuzzer found without running libFuzzer. The corpus paths arrive
// as arguments (see BUILD.bazel).
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "examples/frontend/fuzz/request_parser_check.h"
#include "gtest/gtest.h"

namespace {

std::vector<std::string>* corpus_files = nullptr;

TEST(FuzzCorpusTest, EveryFileKeepsTheInvariants) {
  ASSERT_NE(corpus_files, nullptr);
  // The corpus is checked in; an empty list means the paths went missing.
  ASSERT_GE(corpus_files->size(), 10u);
  for (const std::string& path : *corpus_files) {
    std::ifstream in(path, std::ios::binary);
    ASSERT_TRUE(in) << path;
    std::string data((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
    EXPECT_EQ(tidepool::frontend::http::CheckRequestParser(
                  reinterpret_cast<const uint8_t*>(data.data()), data.size()),
              "")
        << path;
  }
}

}  // namespace

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  std::vector<std::string> files(argv + 1, argv + argc);
  corpus_files = &files;
  return RUN_ALL_TESTS();
}
