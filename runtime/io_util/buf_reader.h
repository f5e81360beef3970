#ifndef TIDEPOOL_RUNTIME_IO_UTIL_BUF_READER_H_
#define TIDEPOOL_RUNTIME_IO_UTIL_BUF_READER_H_

// BufReader<S>: reads a stream through a buffer, for protocols framed by
// lines or delimiters, and for many small reads at the cost of few
// syscalls.
//
//   tidepool::BufReader<tidepool::TcpStream> reader(std::move(stream));
//   std::string line;
//   while (true) {
//     line.clear();
//     absl::StatusOr<size_t> n = co_await reader.read_line(line);
//     if (!n.ok()) co_return n.status();
//     if (*n == 0) break;  // end of stream
//     Handle(line);        // "...\n", or the unterminated last line
//   }
//
// Who may call: inside tidepool tasks, one operation at a time (they share
// the buffer); the BufReader must stay where it is while an operation is
// awaited (its methods are coroutines referring to it). It is itself an
// AsyncRead, so it can be handed to copy(). Its stream's write side, if
// any, stays usable through get_ref(), from another task too when the
// stream allows (TcpStream does).
//
// Cost: the buffer (`capacity` bytes, 8 KiB by default) is allocated once,
// by the constructor. A read that finds bytes buffered copies them without
// a syscall; a read() of at least `capacity` bytes with nothing buffered
// goes straight to the stream. Each operation allocates its coroutine frame.
// Errors are the stream's; a read_exact() cut short by the end of the
// stream is OutOfRange.

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "runtime/io_util/stream.h"
#include "runtime/task.h"

namespace tidepool {

template <AsyncRead S>
class BufReader {
 public:
  static constexpr size_t kDefaultCapacity = 8 * 1024;

  // `capacity` is clamped to at least 1.
  explicit BufReader(S inner, size_t capacity = kDefaultCapacity)
      : inner_(std::move(inner)),
        capacity_(std::max<size_t>(capacity, 1)),
        buf_(new char[capacity_]) {}
  BufReader(BufReader&&) noexcept = default;
  BufReader& operator=(BufReader&&) noexcept = default;

  // The buffered bytes, reading from the stream first if there are none;
  // empty at end of stream. Call consume() for what you used.
  Task<absl::StatusOr<std::span<const char>>> fill_buf() {
    if (pos_ == end_) {
      absl::StatusOr<size_t> n =
          co_await inner_.read(std::span<char>(buf_.get(), capacity_));
      if (!n.ok()) co_return n.status();
      pos_ = 0;
      end_ = *n;
    }
    co_return buffer();
  }
  // Marks `n` buffered bytes used (at most as many as are buffered).
  void consume(size_t n) { pos_ += std::min(n, end_ - pos_); }
  // The buffered bytes, without reading.
  std::span<const char> buffer() const {
    return std::span<const char>(buf_.get() + pos_, end_ - pos_);
  }

  // Reads up to buf.size() bytes: the buffered ones first. 0 at end of
  // stream (or for an empty `buf`).
  Task<absl::StatusOr<size_t>> read(std::span<char> buf) {
    if (buf.empty()) co_return 0;
    if (pos_ == end_ && buf.size() >= capacity_) {
      co_return co_await inner_.read(buf);
    }
    absl::StatusOr<std::span<const char>> have = co_await fill_buf();
    if (!have.ok()) co_return have.status();
    const size_t n = std::min(buf.size(), have->size());
    std::memcpy(buf.data(), have->data(), n);
    consume(n);
    co_return n;
  }

  // Appends to `out` the bytes up to and including `delim`, or up to the
  // end of the stream. Returns how many it appended: 0 only at end of
  // stream. On error, what was appended stays appended.
  Task<absl::StatusOr<size_t>> read_until(char delim, std::string& out) {
    size_t total = 0;
    while (true) {
      absl::StatusOr<std::span<const char>> have = co_await fill_buf();
      if (!have.ok()) co_return have.status();
      if (have->empty()) co_return total;
      const char* hit = static_cast<const char*>(
          std::memchr(have->data(), delim, have->size()));
      const size_t n =
          hit ? static_cast<size_t>(hit - have->data()) + 1 : have->size();
      out.append(have->data(), n);
      consume(n);
      total += n;
      if (hit) co_return total;
    }
  }
  // read_until('\n', out): a line with its '\n', or the last line without.
  Task<absl::StatusOr<size_t>> read_line(std::string& out) {
    return read_until('\n', out);
  }

  // Fills all of `buf`; OutOfRange if the stream ends first (the bytes that
  // came are in `buf`, their count in the message).
  Task<absl::Status> read_exact(std::span<char> buf) {
    size_t done = 0;
    while (done < buf.size()) {
      absl::StatusOr<size_t> n = co_await read(buf.subspan(done));
      if (!n.ok()) co_return n.status();
      if (*n == 0) {
        co_return absl::OutOfRangeError(
            absl::StrCat("read_exact: end of stream after ", done, " of ",
                         buf.size(), " bytes"));
      }
      done += *n;
    }
    co_return absl::OkStatus();
  }

  S& get_ref() { return inner_; }
  const S& get_ref() const { return inner_; }
  // The stream back; bytes still buffered are dropped (see buffer()).
  S into_inner() && { return std::move(inner_); }

 private:
  S inner_;
  size_t capacity_;
  std::unique_ptr<char[]> buf_;
  // buf_[pos_, end_) is read from the stream and not yet consumed.
  size_t pos_ = 0;
  size_t end_ = 0;
};

}  // namespace tidepool

#endif  // TIDEPOOL_RUNTIME_IO_UTIL_BUF_READER_H_
