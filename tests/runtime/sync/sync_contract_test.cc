// The "Sync and composition" part of issue 21's contract, as written there:
// it must compile against //runtime and every check must hold.
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "runtime/runtime.h"
#include "tests/runtime/sync/sync_test_util.h"

namespace tidepool {
namespace {

Task<int> One() { co_return 1; }
Task<std::string> Bee() { co_return "b"; }
Task<int> FortyTwo() { co_return 42; }
Task<void> Arrive(Barrier* barrier) { (void)co_await barrier->wait(); }

Task<int> RunContract() {
  int ok = 0;
  RwLock<std::vector<int>> table;
  {
    auto w = co_await table.write();
    w->push_back(5);
  }
  {
    auto r1 = co_await table.read();
    auto r2 = co_await table.read();
    ok += (*r1)[0] == 5 && r2->size() == 1;
  }
  auto [wtx, wrx] = watch::channel<int>(0);
  wtx.send(7);
  ok += (co_await wrx.changed()).ok() && wrx.borrow() == 7;
  auto [btx, brx1] = broadcast::channel<int>(16);
  auto brx2 = btx.subscribe();
  btx.send(3);
  absl::StatusOr<int> v1 = co_await brx1.recv();
  absl::StatusOr<int> v2 = co_await brx2.recv();
  ok += v1.ok() && *v1 == 3 && v2.ok() && *v2 == 3;
  Barrier barrier(3);
  JoinHandle<void> b1 = spawn(Arrive(&barrier));
  JoinHandle<void> b2 = spawn(Arrive(&barrier));
  (void)co_await barrier.wait();
  co_await b1;
  co_await b2;
  ok += 1;
  OnceCell<int> cell;
  ok += co_await cell.get_or_init(FortyTwo) == 42 &&
        co_await cell.get_or_init(One) == 42;
  auto [x, y] = co_await when_all(One(), Bee());
  ok += x == 1 && y == "b";
  co_return ok;
}

TEST(SyncContractTest, Issue21SyncPartScoresSix) {
  Runtime rt = testing::MakeRuntime(2);
  EXPECT_EQ(rt.block_on(RunContract()), 6);
}

}  // namespace
}  // namespace tidepool
