#!/usr/bin/env bash
# TCP echo, tidepool beside tokio 1.24, in the same run (issue 7): the
# tidepool client (bench/tcp_echo/echo_client), or with CLIENT=tokio the
# same client on tokio (bench/peers/tokio_echo_client), does ping-pong
# round trips of one MESSAGE_BYTES message per connection, at 1 and at 64
# connections, against three servers with 2 workers each:
#   tidepool-uring  bench/tcp_echo/echo_server with TIDEPOOL_IO=uring
#   tidepool-epoll  the same with TIDEPOOL_IO=epoll
#   tokio           bench/peers/tokio_echo
# Each run starts a fresh server. Rounds alternate the order of the servers
# (forwards, then backwards) so that drift on the machine hits all of them
# alike. The client always runs with 2 workers (tidepool's with
# TIDEPOOL_IO=CLIENT_IO).
# Prints a markdown table of medians over the rounds; raw outputs stay in
# $OUT_DIR.
#
# Client and servers share the machine: on a 2-core box they share those 2
# cores, so the figures measure client plus server, not the server alone.
# At 1 connection a round trip is a chain of wake-ups, and where the
# scheduler puts the threads decides much of it (in a VM, waking a halted
# vCPU costs tens of microseconds): PIN=same runs client and server on CPU 0
# only, PIN=split the client on CPU 0 and the server on CPU 1.
#
# Environment:
#   BAZEL          Bazel command, may carry startup options (default: bazel)
#   ROUNDS         rounds (default: 5, at least 3)
#   DURATION       measured seconds per run (default: 3)
#   MESSAGE_BYTES  message size (default: 64)
#   CLIENT         tidepool (default: bench/tcp_echo/echo_client) or tokio
#                  (bench/peers/tokio_echo_client, the same client on tokio):
#                  the client is part of every round trip, so a change to
#                  tidepool moves all three servers' figures with the
#                  tidepool client; the tokio one keeps tidepool out of the
#                  client side
#   CLIENT_IO      the tidepool client's TIDEPOOL_IO (default: epoll, which
#                  costs the client fewer context switches per round trip
#                  than uring)
#   PIN            none (default), same or split: see above
#   OUT_DIR        where raw outputs go (default: a new directory under /tmp)
set -euo pipefail
# The driver is shared with the other echo benchmark.
exec "$(dirname "${BASH_SOURCE[0]}")/../echo_compare.sh" tcp
