// main() for test binaries that send themselves signals: blocks the signals
// runtime/signal/signal.h listens to before any thread exists, as that
// header tells programs to, so a signal sent by a test stays pending for
// the signalfd instead of running its default action.
#include <pthread.h>
#include <signal.h>

#include "gtest/gtest.h"

int main(int argc, char** argv) {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGHUP, SIGINT, SIGTERM, SIGUSR1, SIGUSR2}) sigaddset(&set, s);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
