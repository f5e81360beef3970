#ifndef TIDEPOOL_RUNTIME_NET_LOOKUP_HOST_H_
#define TIDEPOOL_RUNTIME_NET_LOOKUP_HOST_H_

// Name resolution: "host:port" to every socket address it names.
//
//   absl::StatusOr<std::vector<tidepool::SocketAddress>> addrs =
//       co_await tidepool::lookup_host("localhost:8080");
//   if (!addrs.ok()) co_return addrs.status();  // NotFound for no such host
//   for (const tidepool::SocketAddress& a : *addrs) { ... }
//
// `host_port` is "name:port", "a.b.c.d:port" or "[v6]:port", the port
// numeric (0 to 65535). A numeric address is parsed on the spot; a name goes
// to getaddrinfo(3) (so /etc/hosts, DNS and the rest of nsswitch.conf) on
// the runtime's blocking pool, so no worker blocks however slow the
// resolver is. The result keeps getaddrinfo's order (the preferred address
// first, RFC 6724), one entry per address.
//
// Errors: a text without a valid port is InvalidArgument; a name that does
// not resolve (EAI_NONAME, EAI_NODATA) is NotFound and names the host; a
// resolver that cannot answer now (EAI_AGAIN: DNS unreachable) is
// Unavailable; anything else Unknown with getaddrinfo's message. Names
// under the reserved .invalid TLD are NotFound at once, without asking the
// resolver (RFC 6761 allows it; an unreachable DNS server would otherwise
// make them Unavailable, after its timeout).
//
// Who may call: awaited inside a task of a runtime. Cost: for a name, one
// spawn_blocking call (a pool thread, woken or started) and what the
// resolver costs; nothing is cached. If the awaiting task is aborted, the
// lookup still runs to its end on the pool thread, and its result is
// dropped.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/net/socket_address.h"
#include "runtime/task.h"

namespace tidepool {

Task<absl::StatusOr<std::vector<SocketAddress>>> lookup_host(
    std::string host_port);

}  // namespace tidepool

#endif  // TIDEPOOL_RUNTIME_NET_LOOKUP_HOST_H_
