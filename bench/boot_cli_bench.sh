#!/usr/bin/env bash
# Whole-process benchmark: `immunectl boot replay FILE` against tpm2-tools'
# `tpm2_eventlog FILE` on the same event logs, one process per file, and the
# floor: the same loop running /bin/true. Reports milliseconds per process
# and the ratios, with the machine noted.
#   bench/boot_cli_bench.sh [ROUNDS] [IMMUNECTL]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-20}"
immunectl="${2:-build/release/cmd/immunectl}"
testdata="../shared/testdata/eventlogs"
command -v tpm2_eventlog >/dev/null || { echo "tpm2_eventlog (tpm2-tools) is not installed" >&2; exit 2; }
[[ -x "$immunectl" ]] || { echo "$immunectl not built (cmake --preset release && cmake --build --preset release)" >&2; exit 2; }

# Every log both tools accept (tpm2_eventlog rejects a few; they are left out
# of all three loops so that the comparison is like for like).
files=()
while IFS= read -r f; do
  if tpm2_eventlog "$f" >/dev/null 2>&1 && "$immunectl" boot replay "$f" >/dev/null 2>&1; then files+=("$f"); fi
done < <(find "$testdata" -type f \( -name '*.bin' -o -name 'binary_bios_measurements*' \) | sort)
n=${#files[@]}
((n > 0)) || { echo "no event logs found under $testdata" >&2; exit 2; }

now_ns() { date +%s%N; }
run_loop() {  # $@: command prefix; runs it once per file, `rounds` times; prints ns per process
  local start end
  start=$(now_ns)
  for ((r = 0; r < rounds; r++)); do
    for f in "${files[@]}"; do "$@" "$f" >/dev/null 2>&1; done
  done
  end=$(now_ns)
  echo $(((end - start) / (rounds * n)))
}

# Warm the page cache and the dynamic loader's caches.
run_loop /bin/true >/dev/null; run_loop "$immunectl" boot replay >/dev/null; run_loop tpm2_eventlog >/dev/null

floor=$(run_loop /bin/true)
immune=$(run_loop "$immunectl" boot replay)
peer=$(run_loop tpm2_eventlog)

ms() { awk -v ns="$1" 'BEGIN { printf "%.3f", ns / 1e6 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(uname -r)"
echo "logs: $n files, $rounds rounds, one process per file"
echo "per process: /bin/true $(ms "$floor") ms, immunectl boot replay $(ms "$immune") ms, tpm2_eventlog $(ms "$peer") ms"
echo "tpm2_eventlog / immunectl = $(ratio "$peer" "$immune")x   (target >= 3)"
echo "immunectl / floor        = $(ratio "$immune" "$floor")x   (target <= 2)"
