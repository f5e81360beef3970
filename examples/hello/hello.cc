// The runtime's smallest complete program: 100,000 tasks spawned and joined,
// plus one blocking call. Exits 0 when the sum is right.
#include <chrono>
#include <cstdio>
#include <vector>

#include "runtime/runtime.h"

tidepool::Task<int> leaf(int i) {
  co_await tidepool::yield_now();
  co_return i;
}

tidepool::Task<long> root() {
  std::vector<tidepool::JoinHandle<int>> hs;
  for (int i = 0; i < 100000; ++i) hs.push_back(tidepool::spawn(leaf(i)));
  long sum = 0;
  for (auto& h : hs) sum += co_await h;
  sum += co_await tidepool::spawn_blocking([] { return 1; });
  co_return sum;  // 4999950001
}

int main() {
  auto rt = tidepool::Builder()
                .worker_threads(2)
                .max_blocking_threads(8)
                .thread_keep_alive(std::chrono::milliseconds(500))
                .build();
  if (!rt.ok()) {
    std::fprintf(stderr, "%s\n", rt.status().ToString().c_str());
    return 2;
  }
  const long sum = rt->block_on(root());
  std::printf("sum = %ld\n", sum);
  return sum == 4999950001 ? 0 : 1;
}
