// The TLS echo server and a client for it (echo.h), OpenSSL driven by
// tidepool tasks through AsyncFd.
//
//   openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
//     -subj /CN=localhost -addext subjectAltName=DNS:localhost \
//     -keyout key.pem -out cert.pem
//   tls_echo --listen=127.0.0.1:8443 --cert=cert.pem --key=key.pem &
//   tls_echo --connect=127.0.0.1:8443 --ca=cert.pem hello world
//
// The server prints "listening on <address>" and serves until killed; the
// client sends each argument as a line and prints what comes back.
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "examples/tls_echo/echo.h"
#include "examples/tls_echo/tls_context.h"
#include "examples/tls_echo/tls_listener.h"
#include "examples/tls_echo/tls_stream.h"
#include "runtime/runtime.h"

ABSL_FLAG(std::string, listen, "",
          "Serve on this address (a.b.c.d:port or [v6]:port).");
ABSL_FLAG(std::string, cert, "",
          "Server: PEM file with the certificate, then any intermediates.");
ABSL_FLAG(std::string, key, "", "Server: PEM file with the private key.");
ABSL_FLAG(std::string, connect, "",
          "Be a client of the server at this address.");
ABSL_FLAG(std::string, ca, "",
          "Client: PEM file with the certificates to trust; the system's "
          "store when empty.");
ABSL_FLAG(std::string, server_name, "localhost",
          "Client: the name the server's certificate must carry.");

namespace {

using tidepool::tls_echo::TlsContext;

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "tls_echo: %s\n", s.ToString().c_str());
  return 2;
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(path + ": cannot open");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

tidepool::Task<absl::Status> RunServer(tidepool::SocketAddress addr,
                                       TlsContext ctx) {
  auto listener = tidepool::tls_echo::TlsListener::bind(addr, std::move(ctx));
  if (!listener.ok()) co_return listener.status();
  auto bound = listener->local_address();
  if (!bound.ok()) co_return bound.status();
  std::printf("listening on %s\n", bound->ToString().c_str());
  std::fflush(stdout);
  co_await tidepool::tls_echo::Serve(*listener, [](const absl::Status& s) {
    if (!s.ok()) std::fprintf(stderr, "tls_echo: %s\n", s.ToString().c_str());
  });
  co_return absl::OkStatus();
}

tidepool::Task<absl::Status> RunClient(tidepool::SocketAddress addr,
                                       TlsContext ctx, std::string name,
                                       std::vector<std::string> lines) {
  auto stream = co_await tidepool::tls_echo::TlsStream::connect(
      addr, std::move(ctx), std::move(name));
  if (!stream.ok()) co_return stream.status();
  std::fprintf(stderr, "tls_echo: connected, %s\n",
               std::string(stream->protocol()).c_str());
  tidepool::BufReader<tidepool::tls_echo::TlsStream> reader(*std::move(stream));
  for (const std::string& line : lines) {
    if (auto st = co_await reader.get_ref().write_all(line + "\n"); !st.ok()) {
      co_return st;
    }
    std::string echo;
    if (auto n = co_await reader.read_line(echo); !n.ok()) co_return n.status();
    std::fputs(echo.c_str(), stdout);
  }
  co_return co_await reader.get_ref().shutdown();
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "TLS echo: --listen=ADDR --cert=F --key=F serves; --connect=ADDR "
      "[--ca=F] LINE... is a client.");
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  const bool server = !absl::GetFlag(FLAGS_listen).empty();
  if (server == !absl::GetFlag(FLAGS_connect).empty()) {
    return Fail(absl::InvalidArgumentError(
        "give exactly one of --listen (server) and --connect (client)"));
  }
  auto addr = tidepool::SocketAddress::Parse(
      server ? absl::GetFlag(FLAGS_listen) : absl::GetFlag(FLAGS_connect));
  if (!addr.ok()) return Fail(addr.status());
  absl::StatusOr<TlsContext> ctx;
  if (server) {
    auto cert = ReadFile(absl::GetFlag(FLAGS_cert));
    if (!cert.ok()) return Fail(cert.status());
    auto key = ReadFile(absl::GetFlag(FLAGS_key));
    if (!key.ok()) return Fail(key.status());
    ctx = TlsContext::server(*cert, *key);
  } else {
    std::string ca;
    if (!absl::GetFlag(FLAGS_ca).empty()) {
      auto text = ReadFile(absl::GetFlag(FLAGS_ca));
      if (!text.ok()) return Fail(text.status());
      ca = *std::move(text);
    }
    ctx = TlsContext::client(ca);
  }
  if (!ctx.ok()) return Fail(ctx.status());
  auto rt = tidepool::Builder().build();
  if (!rt.ok()) return Fail(rt.status());
  absl::Status s =
      server ? rt->block_on(RunServer(*addr, *std::move(ctx)))
             : rt->block_on(RunClient(
                   *addr, *std::move(ctx), absl::GetFlag(FLAGS_server_name),
                   std::vector<std::string>(args.begin() + 1, args.end())));
  if (!s.ok()) return Fail(s);
  return 0;
}
