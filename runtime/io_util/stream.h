#ifndef TIDEPOOL_RUNTIME_IO_UTIL_STREAM_H_
#define TIDEPOOL_RUNTIME_IO_UTIL_STREAM_H_

// AsyncRead and AsyncWrite: what a byte stream offers, as C++20 concepts,
// so that BufReader, BufWriter, copy() and split() work on any stream (a
// TcpStream, a BufReader, a split half, or a type of your own).
//
// AsyncRead: `co_await s.read(std::span<char>)` yields
// absl::StatusOr<size_t>, the bytes read, 0 at end of stream.
// AsyncWrite: `co_await s.write(std::string_view)` yields
// absl::StatusOr<size_t> (a short write is normal) and
// `co_await s.write_all(std::string_view)` yields absl::Status.
// The awaitables may be Tasks or plain awaitables (TcpStream's are).
//
//   template <tidepool::AsyncRead R>
//   tidepool::Task<absl::StatusOr<size_t>> CountBytes(R& r) {
//     char buf[4096];
//     size_t total = 0;
//     while (true) {
//       absl::StatusOr<size_t> n = co_await r.read(buf);
//       if (!n.ok()) co_return n.status();
//       if (*n == 0) co_return total;
//       total += *n;
//     }
//   }
//
// Concepts cost nothing at run time.

#include <concepts>
#include <cstddef>
#include <span>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/internal/awaitable_traits.h"

namespace tidepool {

template <typename S>
concept AsyncRead = requires(S& s, std::span<char> buf) {
  s.read(buf);
}
&&std::same_as<internal::AwaitResult<decltype(std::declval<S&>().read(
                   std::declval<std::span<char>>()))>,
               absl::StatusOr<size_t>>;

template <typename S>
concept AsyncWrite = requires(S& s, std::string_view data) {
  s.write(data);
  s.write_all(data);
}
&&std::same_as<internal::AwaitResult<decltype(std::declval<S&>().write(
                   std::declval<std::string_view>()))>,
               absl::StatusOr<size_t>>&&
    std::same_as<internal::AwaitResult<decltype(std::declval<S&>().write_all(
                     std::declval<std::string_view>()))>,
                 absl::Status>;

}  // namespace tidepool

#endif  // TIDEPOOL_RUNTIME_IO_UTIL_STREAM_H_
