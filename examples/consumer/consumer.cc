// A stand-in for a user's server built against tidepool from its own
// workspace: it handles a batch of "requests", each a task that counts the
// words of its body in a child task and hashes the body on the blocking
// pool, then checks every answer against a plain serial computation.
// Settings come from TIDEPOOL_* variables (docs/configuration.md).
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "runtime/runtime.h"

namespace {

constexpr int kRequests = 64;

struct Answer {
  size_t words = 0;
  uint64_t hash = 0;
};

std::string Body(int request) {
  std::string body;
  for (int i = 0; i <= request; ++i) {
    body += "word" + std::to_string(i * request) + (i % 7 == 0 ? "\n" : " ");
  }
  return body;
}

size_t CountWords(const std::string& text) {
  size_t words = 0;
  bool in_word = false;
  for (char c : text) {
    const bool space = c == ' ' || c == '\n';
    if (!space && !in_word) ++words;
    in_word = !space;
  }
  return words;
}

// FNV-1a: cheap, but it stands for the CPU-heavy or blocking call a server
// keeps off its workers.
uint64_t Hash(const std::string& text) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : text) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

tidepool::Task<size_t> CountTask(const std::string* body) {
  co_await tidepool::yield_now();
  co_return CountWords(*body);
}

tidepool::Task<Answer> Handle(int request) {
  const std::string body = Body(request);
  // Both pointers stay valid: this frame outlives the two awaits below.
  tidepool::JoinHandle<size_t> words = tidepool::spawn(CountTask(&body));
  const uint64_t hash =
      co_await tidepool::spawn_blocking([&body] { return Hash(body); });
  co_return Answer{co_await words, hash};
}

tidepool::Task<std::vector<Answer>> Serve() {
  std::vector<tidepool::JoinHandle<Answer>> handles;
  for (int r = 0; r < kRequests; ++r) {
    handles.push_back(tidepool::spawn(Handle(r)));
  }
  std::vector<Answer> answers;
  for (auto& h : handles) answers.push_back(co_await h);
  co_return answers;
}

}  // namespace

int main() {
  absl::StatusOr<tidepool::Builder> builder = tidepool::Builder::from_env();
  if (!builder.ok()) {
    std::fprintf(stderr, "consumer: %s\n", builder.status().ToString().c_str());
    return 2;
  }
  absl::StatusOr<tidepool::Runtime> rt = builder->build();
  if (!rt.ok()) {
    std::fprintf(stderr, "consumer: %s\n", rt.status().ToString().c_str());
    return 2;
  }
  const std::vector<Answer> answers = rt->block_on(Serve());

  int wrong = 0;
  for (int r = 0; r < kRequests; ++r) {
    const std::string body = Body(r);
    if (answers[r].words != CountWords(body) || answers[r].hash != Hash(body)) {
      std::fprintf(stderr, "consumer: request %d: wrong answer\n", r);
      ++wrong;
    }
  }
  const tidepool::RuntimeMetrics m = rt->metrics();
  uint64_t polls = 0;
  for (const tidepool::WorkerMetrics& w : m.per_worker) polls += w.polls;
  std::printf(
      "consumer: %d requests, %d wrong; %zu workers ran %llu polls; "
      "blocking pool started %llu threads, %zu alive\n",
      kRequests, wrong, m.workers, static_cast<unsigned long long>(polls),
      static_cast<unsigned long long>(m.blocking.threads_spawned),
      m.blocking.threads_alive);
  return wrong == 0 ? 0 : 1;
}
