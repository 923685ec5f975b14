#!/usr/bin/env bash
# The whole test suite: set up, build the debug preset, run every test
# (unit and swtpm-backed integration tests).
set -euo pipefail
cd "$(dirname "$0")/.."
# The tests read real captured evidence (event logs, IMA lists, policies) from
# the shared folder beside the checkout, or from IMMUNE_TESTDATA_DIR.
testdata="${IMMUNE_TESTDATA_DIR:-../shared/testdata}"
if [[ ! -f "$testdata/INDEX.md" ]]; then
  echo "test.sh: $testdata (from $PWD): no captured evidence there (INDEX.md missing);" \
    "put the shared folder beside the checkout or set IMMUNE_TESTDATA_DIR" >&2
  exit 2
fi
scripts/setup.sh debug
ctest --preset debug -j "$(nproc)" "$@"
