#!/usr/bin/env bash
# The whole test suite: set up, build the debug preset, run every test
# (unit and swtpm-backed integration tests).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh debug
ctest --preset debug -j "$(nproc)" "$@"
