#!/usr/bin/env bash
# The main job: the seed's memory-scaling load (concurrent requests handing
# 1 KiB and 200 KiB payloads to spawn_blocking) on tidepool, one fresh
# process per configuration, printed as the seed's tables: peak RSS per
# concurrency, and the blocking pool's threads and RSS after it goes idle.
#
# Arguments go to the demo (tools/memory_demo.sh --help lists them), e.g.
#   tools/memory_demo.sh --requests=10000 --alloc_policy=none
#   TIDEPOOL_ALLOCATOR=jemalloc tools/memory_demo.sh
# BAZEL overrides the Bazel command, as in tools/test.sh.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
read -r -a bazel <<<"${BAZEL:-bazel}"

tools/bootstrap.sh
"${bazel[@]}" run --compilation_mode=opt //examples/memory_demo -- "$@"
