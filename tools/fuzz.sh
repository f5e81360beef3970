#!/usr/bin/env bash
# Fuzzes the HTTP request parser of examples/frontend with libFuzzer.
#
#   tools/fuzz.sh [SECONDS]      default 30
#
# Builds //examples/frontend/fuzz:request_parser_fuzz with --config=fuzz
# (libFuzzer, AddressSanitizer and UBSan; .bazelrc), then runs it for
# SECONDS on the checked-in corpus and fails if any input crashes or breaks
# an invariant (examples/frontend/fuzz/request_parser_check.h). The
# checked-in corpus is only read; inputs the run discovers go to a scratch
# directory, kept when FUZZ_WORKDIR names one (to minimize and check in the
# interesting ones by hand). A crashing input is saved as
# $workdir/crash-<sha1>; replay it with the binary the script names.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds="${1:-30}"
if ! [[ $seconds =~ ^[0-9]+$ ]] || ((seconds < 1)); then
  echo "usage: tools/fuzz.sh [SECONDS]" >&2
  exit 2
fi

if [[ -n ${FUZZ_WORKDIR:-} ]]; then
  workdir="$FUZZ_WORKDIR"
  mkdir -p "$workdir"
else
  workdir="$(mktemp -d)"
  trap 'rm -rf "$workdir"' EXIT
fi
mkdir -p "$workdir/found"

fuzz_dir=examples/frontend/fuzz
read -r -a bazel <<<"${BAZEL:-bazel}"
echo "fuzz: building //$fuzz_dir:request_parser_fuzz (--config=fuzz)" >&2
"${bazel[@]}" build --config=fuzz "//$fuzz_dir:request_parser_fuzz"
binary="$("${bazel[@]}" info --config=fuzz bazel-bin 2>/dev/null)/$fuzz_dir/request_parser_fuzz"

echo "fuzz: running $binary for ${seconds}s on $fuzz_dir/corpus" >&2
log="$workdir/fuzz.log"
status=0
"$binary" -max_total_time="$seconds" -max_len=4096 -timeout=10 \
  -dict="$fuzz_dir/http.dict" -artifact_prefix="$workdir/" \
  -print_final_stats=1 "$workdir/found" "$fuzz_dir/corpus" >"$log" 2>&1 ||
  status=$?

if ((status != 0)); then
  tail -n 60 "$log" >&2
  echo "fuzz: FAILED (exit $status); inputs: $(ls "$workdir"/crash-* "$workdir"/timeout-* "$workdir"/leak-* 2>/dev/null | tr '\n' ' ')" >&2
  # Keep the evidence even when the scratch directory would go away.
  if [[ -z ${FUZZ_WORKDIR:-} ]]; then
    trap - EXIT
    echo "fuzz: kept $workdir" >&2
  fi
  exit 1
fi
grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)' "$log" >&2 || true
echo "fuzz: passed, $(ls "$workdir/found" | wc -l) new inputs in $workdir/found" >&2
