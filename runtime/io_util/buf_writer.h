#ifndef TIDEPOOL_RUNTIME_IO_UTIL_BUF_WRITER_H_
#define TIDEPOOL_RUNTIME_IO_UTIL_BUF_WRITER_H_

// BufWriter<S>: gathers small writes into one buffer and writes it to the
// stream in one go, when full or at flush().
//
//   tidepool::BufWriter<tidepool::TcpStream> out(std::move(stream));
//   for (const Row& row : rows) {
//     if (auto s = co_await out.write_all(Format(row)); !s.ok()) co_return s;
//   }
//   co_return co_await out.flush();  // nothing is written without it
//
// Who may call: inside tidepool tasks, one operation at a time; the
// BufWriter must stay where it is while an operation is awaited. flush()
// before dropping it or calling into_inner(): a destructor cannot await,
// so bytes still buffered then are lost. It is itself an AsyncWrite.
//
// Cost: the buffer (`capacity` bytes, 8 KiB by default) is reserved by the
// constructor. A write that fits is a copy; a write at least `capacity`
// long goes straight to the stream after what is buffered. Each operation
// allocates its coroutine frame. Errors are the stream's; a failed flush
// leaves the stream in an unknown state (part of the buffer may have gone)
// and the buffer empty.

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/io_util/stream.h"
#include "runtime/task.h"

namespace tidepool {

template <AsyncWrite S>
class BufWriter {
 public:
  static constexpr size_t kDefaultCapacity = 8 * 1024;

  // `capacity` is clamped to at least 1.
  explicit BufWriter(S inner, size_t capacity = kDefaultCapacity)
      : inner_(std::move(inner)), capacity_(std::max<size_t>(capacity, 1)) {
    buf_.reserve(capacity_);
  }
  BufWriter(BufWriter&&) noexcept = default;
  BufWriter& operator=(BufWriter&&) noexcept = default;

  // Takes as much of `data` as fits in the buffer (all of it, once the
  // buffer has been flushed, if it is shorter than `capacity`); a longer
  // `data` meeting an empty buffer is written to the stream directly (a
  // short write then is the stream's).
  Task<absl::StatusOr<size_t>> write(std::string_view data) {
    if (buf_.size() + data.size() > capacity_ && !buf_.empty()) {
      if (absl::Status s = co_await flush(); !s.ok()) co_return s;
    }
    if (data.size() >= capacity_) co_return co_await inner_.write(data);
    buf_.append(data);
    co_return data.size();
  }
  // All of `data`, through the buffer or (if at least `capacity` long)
  // straight to the stream after the buffered bytes.
  Task<absl::Status> write_all(std::string_view data) {
    if (buf_.size() + data.size() > capacity_ && !buf_.empty()) {
      if (absl::Status s = co_await flush(); !s.ok()) co_return s;
    }
    if (data.size() >= capacity_) co_return co_await inner_.write_all(data);
    buf_.append(data);
    co_return absl::OkStatus();
  }
  // Writes every buffered byte to the stream.
  Task<absl::Status> flush() {
    if (buf_.empty()) co_return absl::OkStatus();
    absl::Status s = co_await inner_.write_all(buf_);
    buf_.clear();
    co_return s;
  }

  // The bytes not yet written to the stream.
  std::string_view buffer() const { return buf_; }
  S& get_ref() { return inner_; }
  const S& get_ref() const { return inner_; }
  // The stream back; bytes still buffered are dropped (flush() first).
  S into_inner() && { return std::move(inner_); }

 private:
  S inner_;
  size_t capacity_;
  std::string buf_;
};

}  // namespace tidepool

#endif  // TIDEPOOL_RUNTIME_IO_UTIL_BUF_WRITER_H_
