#!/usr/bin/env bash
# Runs every benchmark against a release build and prints the results.
set -euo pipefail
cd "$(dirname "$0")/.."
build=build/release
[[ -d $build ]] || { cmake --preset release >/dev/null; }
cmake --build --preset release
echo "== in process: parse + replay of each captured event log"
"$build/bench/boot_replay_bench" --benchmark_min_time=0.2
echo "== whole process: immunectl boot replay vs tpm2_eventlog vs /bin/true"
bench/boot_cli_bench.sh 20 "$build/cmd/immunectl"
echo "== whole process: immunectl ima verify vs evmctl ima_measurement"
bench/ima_cli_bench.sh 20 "$build/cmd/immunectl"
echo "== baseline ledger"
"$build/bench/chain_bench"
