#ifndef TIDEPOOL_RUNTIME_IO_IO_AWAITABLE_H_
#define TIDEPOOL_RUNTIME_IO_IO_AWAITABLE_H_

#include <cerrno>
#include <coroutine>
#include <cstdint>
#include <utility>

#include "runtime/internal/context.h"
#include "runtime/io/io_driver.h"

namespace tidepool::internal {

// Awaits one IoOp on a driver; yields the raw result (>= 0, or -errno).
// The op lives here, in the awaiting coroutine's frame, so an operation
// costs no allocation; it holds a reference on its IoSource. Destroying the
// awaitable while the op is in the driver (the task was aborted or timed out)
// cancels it and waits for the driver to let go of the buffer. Movable until
// awaited, so it can be handed to timeout() or select().
class IoAwaitable {
 public:
  IoAwaitable(IoDriver* driver, IoSource* source, IoOp::Code code)
      : driver_(driver) {
    op_.code = code;
    op_.source = source;
    if (source != nullptr) source->Ref();
  }
  IoAwaitable(IoAwaitable&& other) noexcept : driver_(other.driver_) {
    op_.code = other.op_.code;
    op_.source = std::exchange(other.op_.source, nullptr);
    op_.buf = other.op_.buf;
    op_.len = other.op_.len;
    op_.addr = other.op_.addr;
    op_.addr_len = other.op_.addr_len;
  }
  IoAwaitable& operator=(IoAwaitable&&) = delete;
  ~IoAwaitable() {
    // acquire: pairs with the completer's release, after which the driver
    // never touches the op again.
    if (op_.started && !op_.done.load(std::memory_order_acquire)) {
      driver_->Cancel(&op_);
    }
    if (op_.source != nullptr) op_.source->Unref();
  }

  bool await_ready() {
    if (driver_ == nullptr || op_.source == nullptr) {  // closed socket
      op_.result = -EBADF;
      return true;
    }
    return driver_->TryNow(&op_);
  }
  bool await_suspend(std::coroutine_handle<> awaiting) {
    TaskHeader* task = SuspendCurrentTask(awaiting);
    return driver_->Start(&op_, task);
  }
  int64_t await_resume() const noexcept { return op_.result; }

  // For the socket types, to fill in the op before it is awaited.
  IoOp& op() { return op_; }
  IoDriver* driver() const { return driver_; }

 private:
  IoDriver* driver_;
  IoOp op_;
};

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_IO_IO_AWAITABLE_H_
