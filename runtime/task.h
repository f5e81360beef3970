#ifndef TIDEPOOL_RUNTIME_TASK_H_
#define TIDEPOOL_RUNTIME_TASK_H_

// Task<T>: the coroutine type of tidepool.
//
// A Task is lazy: calling a coroutine function that returns Task<T> only
// allocates its frame; nothing runs until the Task is awaited (co_await runs
// it inline on the awaiting thread) or handed to spawn() (the runtime runs it
// as an independent task). Completion resumes the awaiter by symmetric
// transfer, so a chain of a million nested awaits uses constant stack.
//
// A Task is move-only and owns its frame; destroying a Task that has not
// finished destroys the frame and everything it holds. A Task may be awaited
// once. An exception that escapes the coroutine is rethrown by co_await.
//
// Cost: one heap allocation for the frame (its size is chosen by the
// compiler, plus room in front for the task cell should the Task be spawned,
// so that a spawned task is one allocation), no synchronisation.
//
//   tidepool::Task<int> Add(int a, int b) { co_return a + b; }
//   tidepool::Task<int> Twice() { co_return co_await Add(1, 2) * 2; }

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <new>
#include <optional>
#include <source_location>
#include <type_traits>
#include <utility>

#include "runtime/compiler_check.h"
#include "runtime/internal/await_site.h"
#include "runtime/internal/block_cache.h"

namespace tidepool {

template <typename T = void>
class Task;

namespace internal {

template <typename T>
class TaskAccess;
template <typename T>
class CoroTask;

// Every coroutine frame is allocated with room in front of it for the cell
// (CoroTask<T>) that spawning it needs, followed by this record just before
// the frame. Spawning constructs the cell in that room, so a spawned task
// costs one allocation, not two; a Task that is only awaited leaves the room
// unused. Blocks come from the per-thread block cache (block_cache.h).
//
// Layout: [ cell room | FrameTail | frame ]. The compiler hands the frame's
// address to operator delete and to coroutine_handle::address(); `magic`
// lets Spawn check that the two agree before it trusts the layout.
struct FrameTail {
  static constexpr uint32_t kMagic = 0x7d1e9001;
  uint32_t magic;
  uint32_t frame_size;
  // Set by Spawn (before the task is published, by its owner): the cell
  // lives in the block, so freeing the block is the cell's job.
  bool hosts_cell;
};

template <typename T>
struct FrameLayout {
  static constexpr size_t kAlign = __STDCPP_DEFAULT_NEW_ALIGNMENT__;
  static constexpr size_t RoundUp(size_t n) {
    return (n + kAlign - 1) / kAlign * kAlign;
  }
  // Bytes in front of the frame; instantiated where a coroutine returning
  // Task<T> is defined, where CoroTask<T> (task_cell.h, included at the end
  // of this file) is complete.
  static constexpr size_t Prefix() {
    return RoundUp(sizeof(CoroTask<T>) + sizeof(FrameTail));
  }
  static FrameTail* TailOf(void* frame) {
    return static_cast<FrameTail*>(frame) - 1;
  }
  static void* BlockOf(void* frame) {
    return static_cast<char*>(frame) - Prefix();
  }

  static void* Allocate(size_t frame_size) {
    char* block = static_cast<char*>(AllocateTaskMemory(Prefix() + frame_size));
    void* frame = block + Prefix();
    ::new (TailOf(frame))
        FrameTail{FrameTail::kMagic, static_cast<uint32_t>(frame_size), false};
    return frame;
  }
  // The frame's operator delete.
  static void Free(void* frame, size_t frame_size) noexcept {
    if (TailOf(frame)->hosts_cell) return;  // the cell frees the block
    FreeBlock(frame, frame_size);
  }
  // The whole block, whoever ends it (the frame, or the cell it hosts).
  static void FreeBlock(void* frame, size_t frame_size) noexcept {
    // A recycled block must not show a stale magic to a frame laid out
    // differently (an over-aligned one the compiler shifts).
    TailOf(frame)->magic = 0;
    FreeTaskMemory(BlockOf(frame), Prefix() + frame_size);
  }
};

class PromiseBase {
 public:
  struct FinalAwaiter {
    bool await_ready() const noexcept { return false; }
    template <typename P>
    std::coroutine_handle<> await_suspend(
        std::coroutine_handle<P> self) const noexcept {
      // A spawned root has no continuation: control goes back to the worker,
      // which sees done() and completes the task.
      std::coroutine_handle<> next = self.promise().continuation_;
      return next ? next : std::noop_coroutine();
    }
    void await_resume() const noexcept {}
  };

  std::suspend_always initial_suspend() const noexcept { return {}; }
  FinalAwaiter final_suspend() const noexcept { return {}; }
  void unhandled_exception() noexcept { exception_ = std::current_exception(); }

  // Every co_await in a Task passes through here: records the co_await's
  // source location for Runtime::dump() (await_site.h) and hands the
  // awaitable on unchanged, as the same reference, so that operator
  // co_await, members and temporaries behave as without it (a temporary
  // lives to the end of the full expression either way). The default
  // argument is evaluated at the co_await. Cost: one pointer store.
  template <typename Awaitable>
  Awaitable&& await_transform(
      Awaitable&& awaitable,
      std::source_location site = std::source_location::current()) noexcept {
    tls_await_site = site;
    return static_cast<Awaitable&&>(awaitable);
  }

  void set_continuation(std::coroutine_handle<> c) { continuation_ = c; }
  std::exception_ptr exception() const { return exception_; }

 protected:
  void RethrowIfFailed() {
    if (exception_) std::rethrow_exception(exception_);
  }

 private:
  std::coroutine_handle<> continuation_;
  std::exception_ptr exception_;
};

template <typename T>
class Promise final : public PromiseBase {
 public:
  static void* operator new(size_t n) { return FrameLayout<T>::Allocate(n); }
  static void operator delete(void* p, size_t n) noexcept {
    FrameLayout<T>::Free(p, n);
  }

  Task<T> get_return_object() noexcept;

  template <typename U>
  requires std::is_convertible_v<U&&, T>
  void return_value(U&& value) { value_.emplace(std::forward<U>(value)); }

  T TakeResult() {
    RethrowIfFailed();
    return std::move(*value_);
  }

 private:
  std::optional<T> value_;
};

template <>
class Promise<void> final : public PromiseBase {
 public:
  // Defined at the end of this file, where CoroTask<void> is complete.
  static void* operator new(size_t n);
  static void operator delete(void* p, size_t n) noexcept;

  Task<void> get_return_object() noexcept;
  void return_void() noexcept {}
  void TakeResult() { RethrowIfFailed(); }
};

}  // namespace internal

template <typename T>
class [[nodiscard]] Task {
 public:
  using promise_type = internal::Promise<T>;
  using value_type = T;

  Task() = default;
  Task(Task&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
  Task& operator=(Task&& other) noexcept {
    if (this != &other) {
      Reset();
      handle_ = std::exchange(other.handle_, {});
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() { Reset(); }

  // True when this Task holds a coroutine (it is not moved-from).
  bool valid() const { return static_cast<bool>(handle_); }

  auto operator co_await() && noexcept {
    struct Awaiter {
      std::coroutine_handle<promise_type> handle;
      bool await_ready() const noexcept { return false; }
      std::coroutine_handle<> await_suspend(
          std::coroutine_handle<> awaiting) noexcept {
        handle.promise().set_continuation(awaiting);
        return handle;
      }
      T await_resume() { return handle.promise().TakeResult(); }
    };
    return Awaiter{handle_};
  }

 private:
  friend class internal::Promise<T>;
  friend class internal::TaskAccess<T>;

  explicit Task(std::coroutine_handle<promise_type> h) : handle_(h) {}

  void Reset() {
    if (handle_) std::exchange(handle_, {}).destroy();
  }

  std::coroutine_handle<promise_type> handle_;
};

namespace internal {

template <typename T>
Task<T> Promise<T>::get_return_object() noexcept {
  return Task<T>(std::coroutine_handle<Promise<T>>::from_promise(*this));
}

inline Task<void> Promise<void>::get_return_object() noexcept {
  return Task<void>(std::coroutine_handle<Promise<void>>::from_promise(*this));
}

// Lets the scheduler take the frame out of a Task it spawns.
template <typename T>
class TaskAccess {
 public:
  static std::coroutine_handle<Promise<T>> Release(Task<T>& task) {
    return std::exchange(task.handle_, {});
  }
};

}  // namespace internal
}  // namespace tidepool

// CoroTask<T>, whose size FrameLayout<T> needs wherever a coroutine is
// defined.
#include "runtime/internal/task_cell.h"

namespace tidepool::internal {

inline void* Promise<void>::operator new(size_t n) {
  return FrameLayout<void>::Allocate(n);
}
inline void Promise<void>::operator delete(void* p, size_t n) noexcept {
  FrameLayout<void>::Free(p, n);
}

}  // namespace tidepool::internal

#endif  // TIDEPOOL_RUNTIME_TASK_H_
