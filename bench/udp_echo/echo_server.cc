// A UDP echo server on tidepool, the subject of the UDP echo benchmark
// (issue 20); bench/peers/tokio_udp_echo is the same server on tokio 1.24
// and bench/udp_echo/compare.sh runs the two side by side.
//
//   echo_server [--port=N] [--workers=N]
//
// One socket on 127.0.0.1, one task echoing each datagram back to its
// sender (EchoDatagrams, bench/udp_echo/echo_datagrams.h). --port=0 (the
// default) lets the kernel pick; the bound address is printed as
// "listening on 127.0.0.1:<port>" on stdout. The runtime comes from
// Builder::from_env(), so TIDEPOOL_IO picks the I/O driver, and
// TIDEPOOL_ALLOCATOR the allocator (through //alloc:malloc_override). Runs
// until killed.
#include <cstdint>
#include <cstdio>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "bench/udp_echo/echo_datagrams.h"
#include "runtime/runtime.h"

ABSL_FLAG(int32_t, port, 0, "UDP port on 127.0.0.1; 0 picks a free one.");
ABSL_FLAG(uint64_t, workers, 2, "tidepool worker threads.");

namespace {

tidepool::Task<absl::Status> Serve(int port) {
  absl::StatusOr<tidepool::SocketAddress> addr =
      tidepool::SocketAddress::Parse(absl::StrCat("127.0.0.1:", port));
  if (!addr.ok()) co_return addr.status();
  absl::StatusOr<tidepool::UdpSocket> socket = tidepool::UdpSocket::bind(*addr);
  if (!socket.ok()) co_return socket.status();
  absl::StatusOr<tidepool::SocketAddress> local = socket->local_address();
  if (!local.ok()) co_return local.status();
  std::printf("listening on %s\n", local->ToString().c_str());
  std::fflush(stdout);
  co_return co_await tidepool::udp_echo::EchoDatagrams(*std::move(socket));
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "UDP echo server on tidepool; prints 'listening on 127.0.0.1:<port>'.");
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
