#!/usr/bin/env bash
# Runs every libFuzzer target of the fuzz preset for SECONDS each (default 60),
# seeded with the real captured evidence in ../shared/testdata. Exits non-zero
# on the first crash, leak or timeout found; the reproducer is left in
# build/fuzz/findings/.
#   scripts/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
testdata="${IMMUNE_TESTDATA_DIR:-../shared/testdata}"
out="build/fuzz/findings"
mkdir -p "$out"

# target name -> seed files
declare -A seeds=(
  [eventlog_fuzz]="$testdata/eventlogs"
  [ima_fuzz]="$testdata/ima"
  [measurement_log_fuzz]=""  # partition views (JSON): grows its own corpus
  [chain_fuzz]=""            # blocks, proofs, records: grows its own corpus
  [agent_message_fuzz]=""    # agent messages and replies (JSON): grows its own corpus
  [daemon_input_fuzz]=""     # immuned.yaml, container.register/unregister args (JSON)
  [policy_fuzz]=""           # policy documents, Keylime policies, DSSE bundles
  [oci_state_fuzz]=""        # OCI state, runc state.json, bundle config.json
  [overlay_fuzz]=""          # mountinfo, overlay mount options, layer manifests
  [pims_maps_fuzz]=""        # /proc/PID/maps
)

status=0
for target in "${!seeds[@]}"; do
  bin="build/fuzz/fuzz/$target"
  [[ -x "$bin" ]] || { echo "fuzz: $bin was not built" >&2; exit 1; }
  corpus="build/fuzz/corpus/$target"
  mkdir -p "$corpus"
  [[ -z "${seeds[$target]}" ]] || find ${seeds[$target]} -type f ! -name LICENSE ! -name '*.json' ! -name '*.md' -size -200k \
    -exec cp -n {} "$corpus/" \;
  echo "fuzz: $target for ${seconds}s" >&2
  if ! "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$out/$target-" \
      -print_final_stats=1 "$corpus" 2> "$out/$target.log"; then
    echo "fuzz: $target FAILED; see $out/$target.log" >&2
    tail -40 "$out/$target.log" >&2
    status=1
  else
    grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' "$out/$target.log" >&2 || true
  fi
done
exit $status
