// A TCP echo server on tidepool, the subject of the echo benchmark (issue
// 7); bench/peers/tokio_echo is the same server on tokio 1.24 and
// bench/tcp_echo/compare.sh runs the two side by side.
//
//   echo_server [--port=N] [--workers=N]
//
// Each connection echoes what it reads (at most 16 KiB per read, written
// back whole) until the client closes. --port=0 (the default) lets the
// kernel pick; the bound address is printed as "listening on
// 127.0.0.1:<port>" on stdout. The runtime comes from Builder::from_env(),
// so TIDEPOOL_IO picks the I/O driver, and TIDEPOOL_ALLOCATOR the
// allocator (through //alloc:malloc_override). Runs until killed.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <string_view>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "runtime/runtime.h"

ABSL_FLAG(int32_t, port, 0, "TCP port on 127.0.0.1; 0 picks a free one.");
ABSL_FLAG(uint64_t, workers, 2, "tidepool worker threads.");

namespace {

// The most one read takes, as in the tokio peer.
constexpr size_t kReadBytes = 16 * 1024;

tidepool::Task<void> Echo(tidepool::TcpStream stream) {
  // Small messages go out at once rather than waiting for the peer's ACK.
  (void)stream.set_nodelay(true);
  char buf[kReadBytes];
  while (true) {
    absl::StatusOr<size_t> n = co_await stream.read(std::span<char>(buf));
    // End of stream, or a reset that concerns only this client.
    if (!n.ok() || *n == 0) co_return;
    absl::Status w = co_await stream.write_all(std::string_view(buf, *n));
    if (!w.ok()) co_return;
  }
}

tidepool::Task<absl::Status> Serve(int port) {
  absl::StatusOr<tidepool::SocketAddress> addr =
      tidepool::SocketAddress::Parse(absl::StrCat("127.0.0.1:", port));
  if (!addr.ok()) co_return addr.status();
  absl::StatusOr<tidepool::TcpListener> listener =
      tidepool::TcpListener::bind(*addr);
  if (!listener.ok()) co_return listener.status();
  absl::StatusOr<tidepool::SocketAddress> local = listener->local_address();
  if (!local.ok()) co_return local.status();
  std::printf("listening on %s\n", local->ToString().c_str());
  std::fflush(stdout);
  while (true) {
    absl::StatusOr<tidepool::TcpStream> conn = co_await listener->accept();
    if (!conn.ok()) {
      // Out of descriptors (EMFILE) or a connection aborted before it was
      // accepted: back off briefly rather than spin, keep serving.
      co_await tidepool::sleep(std::chrono::milliseconds(10));
      continue;
    }
    // Detached: the connection's task ends by itself at end of stream.
    tidepool::spawn(Echo(*std::move(conn))).detach();
  }
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "TCP echo server on tidepool; prints 'listening on 127.0.0.1:<port>'.");
  absl::ParseCommandLine(argc, argv);
  const int port = absl::GetFlag(FLAGS_port);
  const uint64_t workers = absl::GetFlag(FLAGS_workers);
  if (port < 0 || port > 65535 || workers == 0) {
    std::fprintf(stderr,
                 "echo_server: --port must be 0 to 65535 and --workers at "
                 "least 1\n");
    return 2;
  }
  absl::StatusOr<tidepool::Builder> builder = tidepool::Builder::from_env();
  if (!builder.ok()) {
    std::fprintf(stderr, "echo_server: %s\n",
                 builder.status().ToString().c_str());
    return 2;
  }
  builder->worker_threads(workers);
  absl::StatusOr<tidepool::Runtime> rt = builder->build();
  if (!rt.ok()) {
    std::fprintf(stderr, "echo_server: %s\n", rt.status().ToString().c_str());
    return 2;
  }
  std::fprintf(stderr, "echo_server: %llu workers, io driver %s\n",
               static_cast<unsigned long long>(workers),
               rt->metrics().io_driver.c_str());
  absl::Status s = rt->block_on(Serve(port));
  std::fprintf(stderr, "echo_server: %s\n", s.ToString().c_str());
  return 1;
}
