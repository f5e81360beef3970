#ifndef TIDEPOOL_RUNTIME_IO_UTIL_SPLIT_H_
#define TIDEPOOL_RUNTIME_IO_UTIL_SPLIT_H_

// split() and into_split(): a stream's read side and write side as two
// objects, so that one task reads while another writes (a proxy, a chat
// connection, a protocol with server pushes).
//
//   auto [rd, wr] = tidepool::into_split(std::move(stream));
//   tidepool::spawn(Pump(std::move(rd))).detach();  // reads
//   co_await wr.write_all("hello\n");               // writes meanwhile
//
// split(s) borrows: the halves point at `s`, which must outlive them and
// stay where it is. into_split(std::move(s)) shares: the halves own the
// stream together, and it closes when the last of them is dropped.
//
// Who may call: each half from one task at a time; the two halves from two
// tasks at once. That relies on the stream taking one read and one write
// in flight together, as TcpStream does (a second concurrent read or write
// on it fails with FailedPrecondition rather than racing). ReadHalf is an
// AsyncRead, WriteHalf an AsyncWrite, so they go into BufReader, BufWriter
// and copy().
//
// Cost: split() nothing; into_split() one allocation for the shared
// stream. Each operation is the stream's own, forwarded.

#include <memory>
#include <span>
#include <string_view>
#include <utility>

#include "runtime/io_util/stream.h"

namespace tidepool {

template <typename S>
requires AsyncRead<S> && AsyncWrite<S>
class ReadHalf {
 public:
  explicit ReadHalf(std::shared_ptr<S> stream) : stream_(std::move(stream)) {}
  auto read(std::span<char> buf) { return stream_->read(buf); }
  // The whole stream, for what is neither reading nor writing (addresses,
  // options). Shared with the write half.
  S& get_ref() const { return *stream_; }

 private:
  std::shared_ptr<S> stream_;
};

template <typename S>
requires AsyncRead<S> && AsyncWrite<S>
class WriteHalf {
 public:
  explicit WriteHalf(std::shared_ptr<S> stream) : stream_(std::move(stream)) {}
  auto write(std::string_view data) { return stream_->write(data); }
  auto write_all(std::string_view data) { return stream_->write_all(data); }
  S& get_ref() const { return *stream_; }

 private:
  std::shared_ptr<S> stream_;
};

// The halves of `stream`, borrowed: `stream` must outlive them.
template <typename S>
requires AsyncRead<S> && AsyncWrite<S> std::pair<ReadHalf<S>, WriteHalf<S>>
split(S& stream) {
  // Aliasing constructor with no owner: a pointer that frees nothing.
  std::shared_ptr<S> borrowed(std::shared_ptr<void>(), &stream);
  return {ReadHalf<S>(borrowed), WriteHalf<S>(borrowed)};
}

// The halves of `stream`, which they own together.
template <typename S>
requires AsyncRead<S> && AsyncWrite<S> std::pair<ReadHalf<S>, WriteHalf<S>>
into_split(S stream) {
  auto shared = std::make_shared<S>(std::move(stream));
  return {ReadHalf<S>(shared), WriteHalf<S>(shared)};
}

}  // namespace tidepool

#endif  // TIDEPOOL_RUNTIME_IO_UTIL_SPLIT_H_
