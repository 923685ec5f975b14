#!/usr/bin/env bash
# Whole-process benchmark: `immunectl ima verify LIST --pcrs PCRS.json` against
# ima-evm-utils' `evmctl ima_measurement --pcrs sha1,PCRS LIST` on the same
# binary IMA list and the same PCR 10 value, one process per run.
#   - the largest binary list of ../shared/testdata that evmctl reads (ibmtss
#     sha1.log, 362 entries; evmctl 1.4 cannot read the per-bank lists);
#   - the same list repeated 300 times (108,600 entries).
# Each tool must accept the list (exit 0): a disagreement fails the run.
#   bench/ima_cli_bench.sh [ROUNDS] [IMMUNECTL]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-20}"
immunectl="${2:-build/release/cmd/immunectl}"
command -v evmctl >/dev/null || { echo "evmctl (ima-evm-utils) is not installed" >&2; exit 2; }
[[ -x "$immunectl" ]] || { echo "$immunectl not built" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
small="../shared/testdata/ima/ibmtss/sha1.log"
big="$work/sha1-x300.log"
for ((i = 0; i < 300; i++)); do cat "$small"; done > "$big"

now_ns() { date +%s%N; }
time_loop() {  # $1 rounds, rest: command; prints ms per run
  local n=$1 start end
  shift
  start=$(now_ns)
  for ((r = 0; r < n; r++)); do "$@" >/dev/null 2>&1 || { echo "FAILED: $*" >&2; exit 1; }; done
  end=$(now_ns)
  awk -v ns=$((end - start)) -v n="$n" 'BEGIN { printf "%.3f", ns / n / 1e6 }'
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(uname -r)"
for list in "$small" "$big"; do
  "$immunectl" ima replay --json "$list" > "$work/pcrs.json"
  pcr10=$(sed -n 's/.*"10": "\([0-9a-f]*\)".*/\1/p' "$work/pcrs.json")
  for ((i = 0; i < 24; i++)); do
    if ((i == 10)); then v=$pcr10; else v=0000000000000000000000000000000000000000; fi
    printf 'PCR-%02d: %s\n' "$i" "$v"
  done > "$work/pcrs.evmctl"
  n=$rounds
  [[ $list == "$big" ]] && n=$(((rounds + 3) / 4))
  ours=$(time_loop "$n" "$immunectl" ima verify "$list" --pcrs "$work/pcrs.json")
  theirs=$(time_loop "$n" evmctl ima_measurement --pcrs "sha1,$work/pcrs.evmctl" "$list")
  echo "$(basename "$list") ($([[ $list == "$big" ]] && echo 108600 || echo 362) entries): immunectl ima verify $ours ms, evmctl ima_measurement $theirs ms, evmctl / immunectl = $(awk -v a="$theirs" -v b="$ours" 'BEGIN { printf "%.2f", a / b }')x (target > 1)"
done
