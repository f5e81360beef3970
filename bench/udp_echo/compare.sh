#!/usr/bin/env bash
# UDP echo, tidepool beside tokio 1.24, in the same run (issue 20): the
# tidepool client (bench/udp_echo/echo_client) does ping-pong round trips of
# one MESSAGE_BYTES datagram per client socket, at 1 and at 64 sockets,
# against three servers with 2 workers each:
#   tidepool-uring  bench/udp_echo/echo_server with TIDEPOOL_IO=uring
#   tidepool-epoll  the same with TIDEPOOL_IO=epoll
#   tokio           bench/peers/tokio_udp_echo
# Each server is one socket and one task: recv_from, then send_to back to
# the sender. Each client socket is connected to the server (send and recv)
# and waits LOSS_TIMEOUT_MS for each echo; a datagram not echoed by then is
# counted lost and the socket goes on, so a loss costs time but never hangs
# the run (on loopback a datagram is lost only when a receive buffer is
# full; an echo that comes after the timeout, a stall on a busy machine, is
# counted lost and then late). Each run starts a fresh server. Rounds
# alternate the order of the servers (forwards, then backwards) so that
# drift on the machine hits all of them alike. The client always runs with
# 2 workers and TIDEPOOL_IO=CLIENT_IO. Prints a markdown table of medians
# over the rounds; raw outputs stay in $OUT_DIR.
#
# Client and servers share the machine: on a 2-core box they share those 2
# cores, so the figures measure client plus server, not the server alone.
# The client's cost per round trip (a send, a receive with a deadline) is
# the same against every server. PIN=same runs client and server on CPU 0
# only, PIN=split the client on CPU 0 and the server on CPU 1.
#
# Environment:
#   BAZEL            Bazel command, may carry startup options (default: bazel)
#   ROUNDS           rounds (default: 5, at least 3)
#   DURATION         measured seconds per run (default: 3)
#   MESSAGE_BYTES    datagram size, 8 to 65507 (default: 64)
#   LOSS_TIMEOUT_MS  how long the client waits for an echo (default: 100)
#   CLIENT_IO        the client's TIDEPOOL_IO (default: epoll, as in
#                    bench/tcp_echo)
#   PIN              none (default), same or split: see above
#   OUT_DIR          where raw outputs go (default: a new directory under
#                    /tmp)
set -euo pipefail
# The driver is shared with the other echo benchmark.
exec "$(dirname "${BASH_SOURCE[0]}")/../echo_compare.sh" udp
