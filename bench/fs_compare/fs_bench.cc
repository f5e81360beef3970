// Sequential file throughput through tidepool::fs::File: writes a file of
// SIZE_MIB MiB in CHUNK_KIB KiB chunks, then reads it back in chunks of the
// same size, one task doing each, and prints
//   backend=<fs_backend> write_mbps=<MB/s> read_mbps=<MB/s>
// (MB = 10^6 bytes). The runtime comes from Builder::from_env(), so
// TIDEPOOL_IO=uring or epoll picks io_uring or the blocking pool for the
// file operations. Writes end when the data is in the page cache (no
// fsync), and the read finds it there, so the figures measure what the
// runtime adds to a copy through the kernel, not the disk. The file is
// removed at the end. bench/fs_compare/compare.sh runs this beside tokio::fs
// (bench/peers/tokio_fs), which prints the same line.
//
//   fs_bench PATH SIZE_MIB CHUNK_KIB
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/runtime.h"

namespace {

struct Figures {
  absl::Status status;
  double write_s = 0;
  double read_s = 0;
};

double Since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}

tidepool::Task<Figures> Run(std::string path, uint64_t size, size_t chunk) {
  Figures fig;
  // Not all zeros, so that no layer can shortcut them.
  std::vector<char> data(chunk);
  for (size_t i = 0; i < chunk; ++i) data[i] = static_cast<char>(i * 131 + 7);

  auto start = std::chrono::steady_clock::now();
  {
    absl::StatusOr<tidepool::fs::File> f =
        co_await tidepool::fs::File::create(path);
    if (!f.ok()) {
      fig.status = f.status();
      co_return fig;
    }
    for (uint64_t done = 0; done < size; done += chunk) {
      absl::Status s =
          co_await f->write_all(std::string_view(data.data(), chunk));
      if (!s.ok()) {
        fig.status = s;
        co_return fig;
      }
    }
  }
  fig.write_s = Since(start);

  start = std::chrono::steady_clock::now();
  uint64_t total = 0;
  {
    absl::StatusOr<tidepool::fs::File> f =
        co_await tidepool::fs::File::open(path);
    if (!f.ok()) {
      fig.status = f.status();
      co_return fig;
    }
    while (true) {
      absl::StatusOr<size_t> n = co_await f->read(data);
      if (!n.ok()) {
        fig.status = n.status();
        co_return fig;
      }
      if (*n == 0) break;
      total += *n;
    }
  }
  fig.read_s = Since(start);
  if (total != size) {
    fig.status = absl::DataLossError("read back " + std::to_string(total) +
                                     " bytes of " + std::to_string(size));
  }
  co_return fig;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s PATH SIZE_MIB CHUNK_KIB\n", argv[0]);
    return 2;
  }
  const std::string path = argv[1];
  const uint64_t size = std::strtoull(argv[2], nullptr, 10) << 20;
  const size_t chunk = std::strtoull(argv[3], nullptr, 10) << 10;
  if (size == 0 || chunk == 0 || size % chunk != 0) {
    std::fprintf(stderr,
                 "fs_bench: SIZE_MIB must be a multiple of CHUNK_KIB\n");
    return 2;
  }
  absl::StatusOr<tidepool::Builder> builder = tidepool::Builder::from_env();
  if (!builder.ok()) {
    std::fprintf(stderr, "fs_bench: %s\n", builder.status().ToString().c_str());
    return 2;
  }
  absl::StatusOr<tidepool::Runtime> rt = builder->build();
  if (!rt.ok()) {
    std::fprintf(stderr, "fs_bench: %s\n", rt.status().ToString().c_str());
    return 2;
  }
  const Figures fig = rt->block_on(Run(path, size, chunk));
  std::remove(path.c_str());
  if (!fig.status.ok()) {
    std::fprintf(stderr, "fs_bench: %s\n", fig.status.ToString().c_str());
    return 1;
  }
  std::printf("backend=%s write_mbps=%.0f read_mbps=%.0f\n",
              rt->metrics().fs_backend.c_str(),
              static_cast<double>(size) / 1e6 / fig.write_s,
              static_cast<double>(size) / 1e6 / fig.read_s);
  return 0;
}
