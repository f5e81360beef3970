#!/usr/bin/env bash
# Fuzzes the inputs examples/frontend takes from clients with libFuzzer: the
# HTTP request parser, then the JSON prompt finder.
#
#   tools/fuzz.sh [SECONDS]      default 30, for each of the two targets
#
# Builds //examples/frontend/fuzz:request_parser_fuzz and :json_prompt_fuzz
# with --config=fuzz (libFuzzer, AddressSanitizer and UBSan; .bazelrc), then
# runs each for SECONDS on its checked-in corpus (corpus/, json_corpus/) and
# fails if any input crashes or breaks an invariant
# (examples/frontend/fuzz/request_parser_check.h, json_prompt_check.h). The
# checked-in corpora are only read; inputs a run discovers go to a scratch
# directory, kept when FUZZ_WORKDIR names one (to minimize and check in the
# interesting ones by hand). A crashing input is saved as
# $workdir/<target>/crash-<sha1>; replay it with the binary the script names.
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

fuzz_dir=examples/frontend/fuzz
read -r -a bazel <<<"${BAZEL:-bazel}"
echo "fuzz: building //$fuzz_dir:request_parser_fuzz and :json_prompt_fuzz (--config=fuzz)" >&2
"${bazel[@]}" build --config=fuzz "//$fuzz_dir:request_parser_fuzz" \
  "//$fuzz_dir:json_prompt_fuzz"
bin_dir="$("${bazel[@]}" info --config=fuzz bazel-bin 2>/dev/null)/$fuzz_dir"

# run TARGET CORPUS DICT MAX_LEN
run() {
  local target=$1 corpus=$2 dict=$3 max_len=$4
  local dir="$workdir/$target"
  mkdir -p "$dir/found"
  echo "fuzz: running $bin_dir/$target for ${seconds}s on $fuzz_dir/$corpus" >&2
  local log="$dir/fuzz.log"
  local status=0
  "$bin_dir/$target" -max_total_time="$seconds" -max_len="$max_len" \
    -timeout=10 -dict="$fuzz_dir/$dict" -artifact_prefix="$dir/" \
    -print_final_stats=1 "$dir/found" "$fuzz_dir/$corpus" >"$log" 2>&1 ||
    status=$?
  if ((status != 0)); then
    tail -n 60 "$log" >&2
    echo "fuzz: $target FAILED (exit $status); inputs: $(ls "$dir"/crash-* "$dir"/timeout-* "$dir"/leak-* 2>/dev/null | tr '\n' ' ')" >&2
    # Keep the evidence even when the scratch directory would go away.
    if [[ -z ${FUZZ_WORKDIR:-} ]]; then
      trap - EXIT
      echo "fuzz: kept $workdir" >&2
    fi
    exit 1
  fi
  grep -E '^(Done|stat::number_of_executed_units|stat::peak_rss_mb)' "$log" >&2 || true
  echo "fuzz: $target passed, $(ls "$dir/found" | wc -l) new inputs in $dir/found" >&2
}

run request_parser_fuzz corpus http.dict 4096
run json_prompt_fuzz json_corpus json.dict 4096
