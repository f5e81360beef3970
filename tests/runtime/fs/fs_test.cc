// tidepool::fs: files and directories under the test's TEST_TMPDIR, success
// and error paths, on the default runtime (io_uring where the kernel allows
// it). file_backend_test.cc runs files on each backend.
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "gtest/gtest.h"
#include "runtime/runtime.h"

namespace tidepool::fs {
namespace {

// ASSERT_TRUE for coroutines: fails the test and leaves the coroutine.
#define CO_ASSERT_TRUE(cond)               \
  do {                                     \
    if (!(cond)) {                         \
      ADD_FAILURE() << "false: " << #cond; \
      co_return;                           \
    }                                      \
  } while (0)

static_assert(AsyncRead<File> && AsyncWrite<File>);

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir ? dir : "/tmp") + "/fs_test-" +
         std::to_string(getpid()) + "-" + name;
}

template <typename T>
T RunTask(Task<T> task) {
  auto rt = Builder().worker_threads(2).build();
  if (!rt.ok()) throw std::runtime_error(rt.status().ToString());
  return rt->block_on(std::move(task));
}

bool Mentions(const absl::Status& s, const std::string& path) {
  return s.message().find(path) != std::string_view::npos;
}

TEST(FsTest, WriteThenReadToString) {
  const std::string path = TempPath("roundtrip");
  RunTask([](std::string path) -> Task<void> {
    EXPECT_TRUE((co_await write(path, "abc")).ok());
    absl::StatusOr<std::string> text = co_await read_to_string(path);
    CO_ASSERT_TRUE(text.ok());
    EXPECT_EQ(*text, "abc");
    // write() replaces, and takes any bytes.
    EXPECT_TRUE((co_await write(path, std::string("x\0y", 3))).ok());
    EXPECT_EQ(*co_await read_to_string(path), std::string("x\0y", 3));
  }(path));
}

TEST(FsTest, MissingPathsAreNotFoundNamingThePath) {
  const std::string missing = TempPath("missing/file");
  RunTask([](std::string missing) -> Task<void> {
    absl::StatusOr<std::string> text = co_await read_to_string(missing);
    EXPECT_TRUE(absl::IsNotFound(text.status())) << text.status();
    EXPECT_TRUE(Mentions(text.status(), missing)) << text.status();
    absl::Status w = co_await write(missing, "x");
    EXPECT_TRUE(absl::IsNotFound(w)) << w;
    absl::Status r = co_await remove(missing);
    EXPECT_TRUE(absl::IsNotFound(r)) << r;
    absl::Status mv = co_await rename(missing, missing + "2");
    EXPECT_TRUE(absl::IsNotFound(mv)) << mv;
    absl::StatusOr<Metadata> st = co_await stat(missing);
    EXPECT_TRUE(absl::IsNotFound(st.status())) << st.status();
    absl::StatusOr<File> f = co_await File::open(missing);
    EXPECT_TRUE(absl::IsNotFound(f.status())) << f.status();
    EXPECT_TRUE(Mentions(f.status(), missing)) << f.status();
  }(missing));
}

TEST(FsTest, DirectoriesRenameRemoveAndStat) {
  const std::string dir = TempPath("dir");
  RunTask([](std::string dir) -> Task<void> {
    EXPECT_TRUE((co_await create_dir(dir)).ok());
    absl::Status again = co_await create_dir(dir);
    EXPECT_TRUE(absl::IsAlreadyExists(again)) << again;
    absl::StatusOr<Metadata> d = co_await stat(dir);
    CO_ASSERT_TRUE(d.ok());
    EXPECT_TRUE(d->is_dir());
    const std::string a = dir + "/a", b = dir + "/b";
    EXPECT_TRUE((co_await write(a, "12345")).ok());
    EXPECT_TRUE((co_await rename(a, b)).ok());
    EXPECT_TRUE(absl::IsNotFound((co_await stat(a)).status()));
    absl::StatusOr<Metadata> m = co_await stat(b);
    CO_ASSERT_TRUE(m.ok());
    EXPECT_TRUE(m->is_file());
    EXPECT_EQ(m->size, 5u);
    // A directory that is not empty stays.
    EXPECT_FALSE((co_await remove(dir)).ok());
    EXPECT_TRUE((co_await remove(b)).ok());
    EXPECT_TRUE((co_await remove(dir)).ok());
  }(dir));
}

TEST(FsTest, FileReadWriteAtFsyncAndMetadata) {
  const std::string path = TempPath("file");
  RunTask([](std::string path) -> Task<void> {
    absl::StatusOr<File> f = co_await File::open(
        path, {.read = true, .write = true, .create = true, .truncate = true});
    CO_ASSERT_TRUE(f.ok());
    EXPECT_EQ(f->path(), path);
    EXPECT_TRUE((co_await f->write_all("hello world")).ok());
    EXPECT_EQ(*co_await f->write_at("W", 6), 1u);
    char buf[5];
    EXPECT_EQ(*co_await f->read_at(buf, 6), 5u);
    EXPECT_EQ(std::string_view(buf, 5), "World");
    // The position is at the end: read() finds end of file.
    EXPECT_EQ(*co_await f->read(buf), 0u);
    EXPECT_TRUE((co_await f->fsync()).ok());
    absl::StatusOr<Metadata> m = co_await f->metadata();
    CO_ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->size, 11u);
    EXPECT_EQ(m->permissions() & 0600, 0600u);
  }(path));
}

TEST(FsTest, AppendAndCreate) {
  const std::string path = TempPath("append");
  RunTask([](std::string path) -> Task<void> {
    {
      absl::StatusOr<File> f = co_await File::create(path);
      CO_ASSERT_TRUE(f.ok());
      EXPECT_TRUE((co_await f->write_all("one\n")).ok());
    }
    absl::StatusOr<File> f = co_await File::open(path, {.append = true});
    CO_ASSERT_TRUE(f.ok());
    EXPECT_TRUE((co_await f->write_all("two\n")).ok());
    EXPECT_EQ(*co_await read_to_string(path), "one\ntwo\n");
  }(path));
}

TEST(FsTest, ReadOnlyFileRefusesWritesAndEmptyOptionsAreInvalid) {
  const std::string path = TempPath("readonly");
  RunTask([](std::string path) -> Task<void> {
    EXPECT_TRUE((co_await write(path, "x")).ok());
    absl::StatusOr<File> f = co_await File::open(path);
    CO_ASSERT_TRUE(f.ok());
    absl::StatusOr<size_t> n = co_await f->write("y");
    EXPECT_FALSE(n.ok());
    EXPECT_TRUE(Mentions(n.status(), path)) << n.status();
    absl::StatusOr<File> none = co_await File::open(path, OpenOptions{});
    EXPECT_TRUE(absl::IsInvalidArgument(none.status())) << none.status();
  }(path));
}

TEST(FsTest, FilesAreStreams) {
  const std::string from = TempPath("lines"), to = TempPath("copy");
  RunTask([](std::string from, std::string to) -> Task<void> {
    EXPECT_TRUE((co_await write(from, "a\nbb\nccc")).ok());
    absl::StatusOr<File> in = co_await File::open(from);
    CO_ASSERT_TRUE(in.ok());
    BufReader<File> lines(*std::move(in), 2);
    std::string line;
    EXPECT_EQ(*co_await lines.read_line(line), 2u);
    EXPECT_EQ(line, "a\n");
    absl::StatusOr<File> out = co_await File::create(to);
    CO_ASSERT_TRUE(out.ok());
    absl::StatusOr<uint64_t> n = co_await copy(lines, *out);
    EXPECT_EQ(*n, 6u);
    EXPECT_EQ(*co_await read_to_string(to), "bb\nccc");
  }(from, to));
}

}  // namespace
}  // namespace tidepool::fs
