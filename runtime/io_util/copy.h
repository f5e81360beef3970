#ifndef TIDEPOOL_RUNTIME_IO_UTIL_COPY_H_
#define TIDEPOOL_RUNTIME_IO_UTIL_COPY_H_

// copy(reader, writer): moves bytes from one stream to another until the
// reader's end of stream, and returns how many it moved.
//
//   tidepool::BufReader<tidepool::TcpStream> in(std::move(client));
//   absl::StatusOr<uint64_t> n = co_await tidepool::copy(in, upstream);
//
// Who may call: inside a tidepool task; both streams must outlive the
// await, and nothing else may read `reader` or write `writer` meanwhile.
// The first error of either side ends it (bytes already written stay
// written). It does not flush a BufWriter: flush() afterwards.
//
// Cost: one 8 KiB buffer on the heap for the whole copy, one read and one
// write_all per chunk.

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "absl/status/statusor.h"
#include "runtime/io_util/stream.h"
#include "runtime/task.h"

namespace tidepool {

template <AsyncRead R, AsyncWrite W>
Task<absl::StatusOr<uint64_t>> copy(R& reader, W& writer) {
  constexpr size_t kChunk = 8 * 1024;
  const std::unique_ptr<char[]> buf(new char[kChunk]);
  uint64_t total = 0;
  while (true) {
    absl::StatusOr<size_t> n =
        co_await reader.read(std::span<char>(buf.get(), kChunk));
    if (!n.ok()) co_return n.status();
    if (*n == 0) co_return total;
    absl::Status s = co_await writer.write_all(std::string_view(buf.get(), *n));
    if (!s.ok()) co_return s;
    total += *n;
  }
}

}  // namespace tidepool

#endif  // TIDEPOOL_RUNTIME_IO_UTIL_COPY_H_
