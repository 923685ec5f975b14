#!/usr/bin/env bash
# The main job on embedded defaults: set up, build, then verify this
# machine's boot evidence. Where the machine has no TPM event log or no TPM
# (as on CI and development VMs), a real captured event log is verified on a
# private swtpm instead: its digests are extended into the swtpm and the PCRs
# read back must equal the log's replay.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh release
log="${IMMUNE_FALLBACK_LOG:-../shared/testdata/eventlogs/tpm2-tools/event-bootorder.bin}"
exec build/release/cmd/immunectl boot check --log "$log" "$@"
