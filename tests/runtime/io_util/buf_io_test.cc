// BufReader, BufWriter, copy and split: over scripted in-memory streams
// (exact chunk boundaries and errors), and over TCP on both I/O drivers.
#include <cstring>
#include <deque>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/runtime.h"

namespace tidepool {
namespace {

// Hands out `chunks` one per read (a chunk longer than the buffer is cut),
// then end of stream, or `error` once the chunks are gone if set.
struct ScriptedReader {
  std::deque<std::string> chunks;
  absl::Status error = absl::OkStatus();
  int reads = 0;

  Task<absl::StatusOr<size_t>> read(std::span<char> buf) {
    ++reads;
    if (chunks.empty()) {
      if (!error.ok()) co_return error;
      co_return 0;
    }
    std::string& c = chunks.front();
    const size_t n = std::min(buf.size(), c.size());
    std::memcpy(buf.data(), c.data(), n);
    c.erase(0, n);
    if (c.empty()) chunks.pop_front();
    co_return n;
  }
};

// Records every write; writes at most `max_write` bytes at a time.
struct RecordingWriter {
  std::vector<std::string> writes;
  size_t max_write = 1 << 20;
  absl::Status error = absl::OkStatus();

  Task<absl::StatusOr<size_t>> write(std::string_view data) {
    if (!error.ok()) co_return error;
    const size_t n = std::min(data.size(), max_write);
    writes.emplace_back(data.substr(0, n));
    co_return n;
  }
  Task<absl::Status> write_all(std::string_view data) {
    while (!data.empty()) {
      absl::StatusOr<size_t> n = co_await write(data);
      if (!n.ok()) co_return n.status();
      data.remove_prefix(*n);
    }
    co_return absl::OkStatus();
  }
  std::string all() const {
    std::string s;
    for (const auto& w : writes) s += w;
    return s;
  }
};

static_assert(AsyncRead<TcpStream> && AsyncWrite<TcpStream>);
static_assert(AsyncRead<ScriptedReader> && !AsyncWrite<ScriptedReader>);
static_assert(AsyncWrite<RecordingWriter> && !AsyncRead<RecordingWriter>);
static_assert(AsyncRead<BufReader<TcpStream>>);
static_assert(AsyncWrite<BufWriter<TcpStream>>);
static_assert(AsyncRead<ReadHalf<TcpStream>> &&
              !AsyncWrite<ReadHalf<TcpStream>>);
static_assert(AsyncWrite<WriteHalf<TcpStream>> &&
              !AsyncRead<WriteHalf<TcpStream>>);

template <typename T>
T RunTask(Task<T> task) {
  auto rt = Builder().worker_threads(1).build();
  if (!rt.ok()) throw std::runtime_error(rt.status().ToString());
  return rt->block_on(std::move(task));
}

TEST(BufReaderTest, ReadLineAcrossBufferBoundaries) {
  RunTask([]() -> Task<void> {
    // A 4-byte buffer: every line spans several fills.
    BufReader<ScriptedReader> r(ScriptedReader{{"he", "llo\nwor", "ld\n"}}, 4);
    std::string line;
    absl::StatusOr<size_t> n = co_await r.read_line(line);
    EXPECT_EQ(*n, 6u);
    EXPECT_EQ(line, "hello\n");
    line.clear();
    n = co_await r.read_line(line);
    EXPECT_EQ(*n, 6u);
    EXPECT_EQ(line, "world\n");
    n = co_await r.read_line(line);
    EXPECT_EQ(*n, 0u);  // end of stream
    EXPECT_EQ(line, "world\n");
  }());
}

TEST(BufReaderTest, LastLineWithoutNewlineThenEndOfStream) {
  RunTask([]() -> Task<void> {
    BufReader<ScriptedReader> r(ScriptedReader{{"a\nb", "c"}});
    std::string line;
    EXPECT_EQ(*co_await r.read_line(line), 2u);
    EXPECT_EQ(*co_await r.read_line(line), 2u);
    EXPECT_EQ(line, "a\nbc");  // read_line appends
    EXPECT_EQ(*co_await r.read_line(line), 0u);
  }());
}

TEST(BufReaderTest, ReadUntilADelimiter) {
  RunTask([]() -> Task<void> {
    BufReader<ScriptedReader> r(ScriptedReader{{"k1=v1;k2", "=v2;"}}, 3);
    std::string field;
    EXPECT_EQ(*co_await r.read_until(';', field), 6u);
    EXPECT_EQ(field, "k1=v1;");
    field.clear();
    EXPECT_EQ(*co_await r.read_until(';', field), 6u);
    EXPECT_EQ(field, "k2=v2;");
  }());
}

TEST(BufReaderTest, ErrorAfterPartOfALineKeepsThePart) {
  RunTask([]() -> Task<void> {
    BufReader<ScriptedReader> r(
        ScriptedReader{{"par"}, absl::UnavailableError("reset")});
    std::string line;
    absl::StatusOr<size_t> n = co_await r.read_line(line);
    EXPECT_TRUE(absl::IsUnavailable(n.status())) << n.status();
    EXPECT_EQ(line, "par");
  }());
}

TEST(BufReaderTest, ReadExactAndItsEndOfStream) {
  RunTask([]() -> Task<void> {
    BufReader<ScriptedReader> r(ScriptedReader{{"ab", "cdef", "g"}}, 2);
    char four[4];
    EXPECT_TRUE((co_await r.read_exact(four)).ok());
    EXPECT_EQ(std::string_view(four, 4), "abcd");
    absl::Status s = co_await r.read_exact(four);
    EXPECT_TRUE(absl::IsOutOfRange(s)) << s;
    EXPECT_NE(s.message().find("after 3 of 4"), std::string::npos) << s;
  }());
}

TEST(BufReaderTest, FillBufConsumeAndIntoInner) {
  RunTask([]() -> Task<void> {
    BufReader<ScriptedReader> r(ScriptedReader{{"hello", "rest"}});
    absl::StatusOr<std::span<const char>> b = co_await r.fill_buf();
    EXPECT_EQ(std::string_view(b->data(), b->size()), "hello");
    r.consume(2);
    EXPECT_EQ(std::string_view(r.buffer().data(), r.buffer().size()), "llo");
    r.consume(100);  // clamped
    EXPECT_TRUE(r.buffer().empty());
    EXPECT_EQ(r.get_ref().reads, 1);
    ScriptedReader inner = std::move(r).into_inner();
    EXPECT_EQ(inner.chunks.front(), "rest");
  }());
}

TEST(BufReaderTest, LargeReadWithEmptyBufferBypassesIt) {
  RunTask([]() -> Task<void> {
    BufReader<ScriptedReader> r(ScriptedReader{{"0123456789"}}, 4);
    char big[16];
    EXPECT_EQ(*co_await r.read(big), 10u);
    EXPECT_TRUE(r.buffer().empty());
  }());
}

TEST(BufWriterTest, SmallWritesGoOutTogetherOnFlush) {
  RunTask([]() -> Task<void> {
    BufWriter<RecordingWriter> w(RecordingWriter{}, 8);
    EXPECT_TRUE((co_await w.write_all("ab")).ok());
    EXPECT_EQ(*co_await w.write("cd"), 2u);
    EXPECT_TRUE(w.get_ref().writes.empty());
    EXPECT_EQ(w.buffer(), "abcd");
    EXPECT_TRUE((co_await w.flush()).ok());
    EXPECT_EQ(w.get_ref().writes, std::vector<std::string>{"abcd"});
  }());
}

TEST(BufWriterTest, OverflowFlushesAndLongDataGoesStraightThrough) {
  RunTask([]() -> Task<void> {
    BufWriter<RecordingWriter> w(RecordingWriter{}, 4);
    EXPECT_TRUE((co_await w.write_all("abc")).ok());
    EXPECT_TRUE((co_await w.write_all("de")).ok());  // flushes "abc"
    EXPECT_TRUE((co_await w.write_all("0123456789")).ok());
    EXPECT_TRUE((co_await w.flush()).ok());
    EXPECT_EQ(w.get_ref().writes,
              (std::vector<std::string>{"abc", "de", "0123456789"}));
  }());
}

TEST(BufWriterTest, FlushErrorIsTheStreams) {
  RunTask([]() -> Task<void> {
    BufWriter<RecordingWriter> w(
        RecordingWriter{{}, 1 << 20, absl::AbortedError("broken pipe")});
    EXPECT_TRUE((co_await w.write_all("x")).ok());
    absl::Status s = co_await w.flush();
    EXPECT_TRUE(absl::IsAborted(s)) << s;
  }());
}

TEST(CopyTest, CopiesEverythingAndCounts) {
  RunTask([]() -> Task<void> {
    ScriptedReader in{{"one ", "two ", std::string(20000, 'x')}};
    RecordingWriter out;
    out.max_write = 1000;  // short writes
    absl::StatusOr<uint64_t> n = co_await copy(in, out);
    EXPECT_EQ(*n, 8u + 20000u);
    EXPECT_EQ(out.all(), "one two " + std::string(20000, 'x'));
  }());
}

TEST(CopyTest, ReaderErrorEndsIt) {
  RunTask([]() -> Task<void> {
    ScriptedReader in{{"ab"}, absl::DataLossError("bad disk")};
    RecordingWriter out;
    absl::StatusOr<uint64_t> n = co_await copy(in, out);
    EXPECT_TRUE(absl::IsDataLoss(n.status())) << n.status();
    EXPECT_EQ(out.all(), "ab");
  }());
}

class BufTcpTest : public ::testing::TestWithParam<std::string> {};

struct Pair {
  TcpStream client;
  TcpStream server;
};
Task<absl::StatusOr<Pair>> Connected() {
  absl::StatusOr<TcpListener> l =
      TcpListener::bind(*SocketAddress::Parse("127.0.0.1:0"));
  if (!l.ok()) co_return l.status();
  absl::StatusOr<TcpStream> c =
      co_await TcpStream::connect(*l->local_address());
  if (!c.ok()) co_return c.status();
  absl::StatusOr<TcpStream> s = co_await l->accept();
  if (!s.ok()) co_return s.status();
  co_return Pair{*std::move(c), *std::move(s)};
}

// Echoes lines: reads with a BufReader on the read half in this task,
// while another task writes through a BufWriter on the write half.
Task<absl::Status> LineEcho(TcpStream s) {
  auto [rd, wr] = into_split(std::move(s));
  auto writer =
      [](WriteHalf<TcpStream> w,
         mpsc::UnboundedReceiver<std::string> lines) -> Task<absl::Status> {
    BufWriter<WriteHalf<TcpStream>> out(std::move(w));
    while (std::optional<std::string> line = co_await lines.recv()) {
      if (absl::Status s = co_await out.write_all(*line); !s.ok()) {
        co_return s;
      }
      if (absl::Status s = co_await out.flush(); !s.ok()) co_return s;
    }
    co_return absl::OkStatus();
  };
  auto [tx, rx] = mpsc::unbounded_channel<std::string>();
  JoinHandle<absl::Status> w = spawn(writer(std::move(wr), std::move(rx)));
  BufReader<ReadHalf<TcpStream>> in(std::move(rd), 5);
  while (true) {
    std::string line;
    absl::StatusOr<size_t> n = co_await in.read_line(line);
    if (!n.ok()) co_return n.status();
    if (*n == 0) break;
    (void)tx.send(std::move(line));
  }
  { auto done = std::move(tx); }
  co_return co_await std::move(w);
}

TEST_P(BufTcpTest, LinesThroughSplitHalvesInTwoTasks) {
  auto rt = Builder()
                .worker_threads(2)
                .io_driver(*ParseIoDriverKind(GetParam()))
                .build();
  ASSERT_TRUE(rt.ok()) << rt.status();
  rt->block_on([]() -> Task<void> {
    absl::StatusOr<Pair> p = co_await Connected();
    if (!p.ok()) {
      ADD_FAILURE() << p.status();
      co_return;
    }
    JoinHandle<absl::Status> echo = spawn(LineEcho(std::move(p->server)));
    auto [rd, wr] = split(p->client);
    EXPECT_TRUE((co_await wr.write_all("first line\nsecond\nno newline")).ok());
    EXPECT_TRUE(p->client.shutdown().ok());
    BufReader<ReadHalf<TcpStream>> in(std::move(rd));
    std::string got;
    while (true) {
      absl::StatusOr<size_t> n = co_await in.read_line(got);
      if (!n.ok() || *n == 0) break;
    }
    EXPECT_EQ(got, "first line\nsecond\nno newline");
    EXPECT_TRUE((co_await std::move(echo)).ok());
  }());
}

INSTANTIATE_TEST_SUITE_P(Drivers, BufTcpTest,
                         ::testing::Values("uring", "epoll"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace tidepool
