#!/usr/bin/env bash
# Installs the Debian packages Immune needs (those not yet installed) and
# configures and builds one CMake preset (default: release).
#   scripts/setup.sh [PRESET]
set -euo pipefail
cd "$(dirname "$0")/.."

preset="${1:-release}"

mapfile -t wanted < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' scripts/packages.txt)
missing=()
for p in "${wanted[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

jobs="$(nproc)"
# The captured evidence for the tests: IMMUNE_TESTDATA_DIR, else the shared
# folder beside the checkout (passed each time, so the cache follows it).
cmake --preset "$preset" "-DIMMUNE_TESTDATA_DIR=$(realpath -m "${IMMUNE_TESTDATA_DIR:-../shared/testdata}")" >/dev/null
cmake --build --preset "$preset" -j "$jobs"
