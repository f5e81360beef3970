#include "runtime/signal/signal.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runtime/internal/io/io_awaitable.h"
#include "runtime/internal/mutex.h"
#include "runtime/internal/signal_mask.h"
#include "runtime/net/internal/socket.h"
#include "runtime/spawn.h"
#include "runtime/sync/notify.h"

namespace tidepool {
namespace internal {

// One listener's count of deliveries. Shared by its Signal and a recv() in
// progress, so that either may go first. The fields are guarded by the
// hub's lock (Hub::mu), which the annotations cannot name from here.
struct SignalListener {
  explicit SignalListener(int signo) : signo(signo) {}
  const int signo;
  uint64_t pending = 0;
  bool dropped = false;
  bool receiving = false;
  // The reader's failure, reported by the next recv().
  absl::Status error;
  // notify_one per event (a delivery, a drop, the reader ending): its
  // stored permit covers an event that comes before the wait.
  Notify notify;
};

namespace {

// The process's signal state: one signalfd for every listened signal, and
// the listeners. Never destroyed: listeners and readers of any runtime may
// use it until the process exits.
struct Hub {
  Mutex mu;
  int fd ABSL_GUARDED_BY(mu) = -1;
  sigset_t mask ABSL_GUARDED_BY(mu);
  std::vector<std::shared_ptr<SignalListener>> listeners ABSL_GUARDED_BY(mu);
  // Whether a reader task exists (on some runtime).
  bool reader_running ABSL_GUARDED_BY(mu) = false;

  Hub() { sigemptyset(&mask); }

  void NotifyAll() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    for (const auto& l : listeners) l->notify.notify_one();
  }
  void FailAll(const absl::Status& s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    for (const auto& l : listeners) l->error = s;
    NotifyAll();
  }
};

Hub& TheHub() {
  static Hub* hub = new Hub;
  return *hub;
}

// Runs in a thread that still had `signo` unblocked: blocks it there for
// good (the mask restored when the handler returns) and sends it to the
// process again, where it stays pending for the signalfd unless another
// thread without the block takes it (which does the same). Nothing else:
// the delivery itself is read from the signalfd.
void Forward(int signo, siginfo_t*, void* context) {
  const int saved_errno = errno;
  sigaddset(&static_cast<ucontext_t*>(context)->uc_sigmask, signo);
  kill(getpid(), signo);
  errno = saved_errno;
}

// Reads every delivery queued on the signalfd and counts it for each
// listener of its signal.
void DrainLocked(Hub& hub) ABSL_EXCLUSIVE_LOCKS_REQUIRED(hub.mu) {
  signalfd_siginfo infos[8];
  while (true) {
    const ssize_t n = read(hub.fd, infos, sizeof(infos));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // EAGAIN: all read
    for (size_t i = 0; i < static_cast<size_t>(n) / sizeof(infos[0]); ++i) {
      for (const auto& l : hub.listeners) {
        if (l->signo == static_cast<int>(infos[i].ssi_signo)) {
          ++l->pending;
          l->notify.notify_one();
        }
      }
    }
  }
}

// On destruction (the loop ended, or its runtime destroyed it), lets the
// next recv() start a reader, and wakes every waiting recv() so that one on
// another runtime does.
struct ReaderExit {
  ReaderExit() = default;
  ReaderExit(const ReaderExit&) = delete;
  ReaderExit& operator=(const ReaderExit&) = delete;
  ~ReaderExit() {
    Hub& hub = TheHub();
    MutexLock lock(&hub.mu);
    hub.reader_running = false;
    hub.NotifyAll();
  }
};

// The reader: waits for the signalfd through the driver of the runtime it
// runs on and distributes what it reads, until no listener is left. It
// polls a duplicate of the signalfd, because the driver closes what it is
// given.
Task<void> ReadLoop(IoDriver* driver) {
  ReaderExit exit;
  Hub& hub = TheHub();
  int fd;
  {
    MutexLock lock(&hub.mu);
    fd = fcntl(hub.fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) {
      hub.FailAll(absl::ErrnoToStatus(errno, "Signal::recv: dup(signalfd)"));
      co_return;
    }
  }
  absl::StatusOr<Socket> source = Socket::Adopt(driver, fd);
  if (!source.ok()) {
    MutexLock lock(&hub.mu);
    hub.FailAll(source.status());
    co_return;
  }
  while (true) {
    {
      MutexLock lock(&hub.mu);
      DrainLocked(hub);
      if (hub.listeners.empty()) break;
    }
    IoAwaitable ready(driver, source->source(), IoOp::Code::kPoll);
    ready.op().poll_events = POLLIN;
    const int64_t r = co_await ready;
    if (r < 0) {
      MutexLock lock(&hub.mu);
      hub.FailAll(ErrnoStatus(r, "Signal::recv: waiting for the signalfd"));
      break;
    }
  }
}

bool Listenable(int signo) {
  return std::find(std::begin(kListenableSignals), std::end(kListenableSignals),
                   signo) != std::end(kListenableSignals);
}

Task<absl::Status> Recv(std::shared_ptr<SignalListener> l) {
  if (l == nullptr) {
    co_return absl::FailedPreconditionError(
        "Signal::recv on a moved-from Signal");
  }
  absl::StatusOr<IoDriver*> driver = CurrentIoDriver("Signal::recv");
  if (!driver.ok()) co_return driver.status();
  Hub& hub = TheHub();
  {
    MutexLock lock(&hub.mu);
    if (l->receiving) {
      co_return absl::FailedPreconditionError(
          "Signal::recv: another recv() of this listener is in progress");
    }
    l->receiving = true;
  }
  struct Receiving {
    Hub& hub;
    SignalListener& l;
    ~Receiving() {
      MutexLock lock(&hub.mu);
      l.receiving = false;
    }
  } receiving{hub, *l};
  while (true) {
    bool start_reader = false;
    {
      MutexLock lock(&hub.mu);
      if (l->pending > 0) {
        --l->pending;
        co_return absl::OkStatus();
      }
      if (l->dropped) {
        co_return absl::CancelledError(
            "Signal::recv: the listener was dropped");
      }
      if (!l->error.ok()) co_return std::exchange(l->error, absl::OkStatus());
      if (!hub.reader_running) {
        hub.reader_running = true;
        start_reader = true;
      }
    }
    if (start_reader) spawn(ReadLoop(*driver)).detach();
    co_await l->notify.notified();
  }
}

}  // namespace
}  // namespace internal

absl::StatusOr<Signal> Signal::listen(int signo) {
  if (!internal::Listenable(signo)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Signal::listen(", signo, "): accepted values are SIGHUP (", SIGHUP,
        "), SIGINT (", SIGINT, "), SIGTERM (", SIGTERM, "), SIGUSR1 (", SIGUSR1,
        ") and SIGUSR2 (", SIGUSR2, ")"));
  }
  internal::Hub& hub = internal::TheHub();
  internal::MutexLock lock(&hub.mu);
  sigset_t one;
  sigemptyset(&one);
  sigaddset(&one, signo);
  // Blocked here before the handler exists, so this thread never runs it.
  pthread_sigmask(SIG_BLOCK, &one, nullptr);
  if (!sigismember(&hub.mask, signo)) {
    sigset_t mask = hub.mask;
    sigaddset(&mask, signo);
    const int fd = signalfd(hub.fd, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0) {
      return absl::ErrnoToStatus(
          errno, absl::StrCat("Signal::listen(", signo, "): signalfd"));
    }
    hub.fd = fd;
    hub.mask = mask;
    struct sigaction sa {};
    sa.sa_sigaction = internal::Forward;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigfillset(&sa.sa_mask);
    if (sigaction(signo, &sa, nullptr) < 0) {
      return absl::ErrnoToStatus(
          errno, absl::StrCat("Signal::listen(", signo, "): sigaction"));
    }
  }
  auto l = std::make_shared<internal::SignalListener>(signo);
  hub.listeners.push_back(l);
  return Signal(std::move(l));
}

Signal& Signal::operator=(Signal&& other) noexcept {
  if (this != &other) {
    Drop();
    state_ = std::move(other.state_);
  }
  return *this;
}

Signal::~Signal() { Drop(); }

void Signal::Drop() {
  if (state_ == nullptr) return;
  internal::Hub& hub = internal::TheHub();
  internal::MutexLock lock(&hub.mu);
  std::erase(hub.listeners, state_);
  state_->dropped = true;
  state_->notify.notify_one();
  state_.reset();
}

Task<absl::Status> Signal::recv() { return internal::Recv(state_); }

int Signal::signo() const { return state_ ? state_->signo : 0; }

namespace signal {

Task<absl::Status> ctrl_c() {
  absl::StatusOr<Signal> s = Signal::listen(SIGINT);
  if (!s.ok()) co_return s.status();
  co_return co_await s->recv();
}

}  // namespace signal
}  // namespace tidepool
