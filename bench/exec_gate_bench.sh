#!/usr/bin/env bash
# Exec gating cost, all peers measured in the same run on the same machine:
# fork + exec of a small static binary, each peer gating its own mount:
#   base            a tmpfs no one watches (the reference)
#   minimal         bench/fanotify_min_responder: allow-all, the same mask as Immune (exec+open)
#   minimal-pidfd   the same responder asking for a pidfd with every event (FAN_REPORT_PIDFD),
#                   as Immune does by default: what the kernel's pidfds cost by themselves
#   immune          immuned, exec gate in enforce mode, the binary allowed by digest (defaults:
#                   the kernel hands a pidfd with every event)
#   immune-nopidfd  the same with gate.report_pidfd: false (what the pidfds cost)
#   fapolicyd       Debian's fapolicyd (file trust by sha256); it chooses what to watch by
#                   file system type only, so its mount is the one ramfs (watch_fs = ramfs)
# One phase per peer, only its watcher running: bench/exec_interleave execs
# the peer's binary and the base's in turn, ROUNDS times, so every watched
# exec is paired with an unwatched one a millisecond away (this VM drifts by
# tens of microseconds per exec within a minute); a phase's figure is the
# median of those differences, a peer's the median over CYCLES phases (the
# peers' phases alternate). Running all watchers at once was tried: each
# daemon's idle threads then disturbed the others' figures. The
# ramfs-against-tmpfs difference is measured first, with no watcher, and taken
# off fapolicyd's figure. Also each watcher's CPU time per exec. Then the
# in-process costs (bench/exec_gate_bench: cached decision, cold hashing) and
# `openssl speed`.
#
# Everything runs inside `unshare -m` on private mounts: no mark ever lands
# on a host filesystem. Needs root.
#   bench/exec_gate_bench.sh [ROUNDS] [CYCLES] [BUILD_DIR]
# MIN_NICE=N runs the minimal responders at nice N (default 0); immuned's
# reader runs at gate.reader_nice (-10), so MIN_NICE=-10 compares like with
# like on the scheduler's side.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-2000}"
cycles="${2:-3}"
build="$(realpath "${3:-build/release}")"
min_nice="${MIN_NICE:-0}"
[[ $min_nice =~ ^-?[0-9]+$ ]] || { echo "exec_gate_bench: MIN_NICE must be an integer, got '$min_nice'" >&2; exit 2; }
[[ $EUID -eq 0 ]] || { echo "exec_gate_bench: needs root (fanotify, mounts)" >&2; exit 2; }
for t in bench/exec_interleave bench/tiny_static bench/fanotify_min_responder bench/exec_gate_bench cmd/immuned/immuned; do
  [[ -x "$build/$t" ]] || { echo "exec_gate_bench: $build/$t is not built" >&2; exit 2; }
done
command -v fapolicyd >/dev/null || { echo "exec_gate_bench: fapolicyd is not installed" >&2; exit 2; }

if [[ "${IMMUNE_BENCH_INNER:-}" != 1 ]]; then
  exec env IMMUNE_BENCH_INNER=1 unshare -m --propagation private "$0" "$rounds" "$cycles" "$build"
fi

work="$(mktemp -d /tmp/immune-gate-bench.XXXXXX)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.5
  for m in base minimal minimal-pidfd immune immune-nopidfd fapolicyd; do umount -l "$work/$m" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

peers=(minimal minimal-pidfd immune immune-nopidfd fapolicyd)
mkdir -p "$work/fapo/rules.d"
for m in base "${peers[@]}"; do
  mkdir -p "$work/$m"
  if [[ $m == fapolicyd ]]; then mount -t ramfs immune-bench "$work/$m"; else mount -t tmpfs -o size=64m immune-bench "$work/$m"; fi
  cp "$build/bench/tiny_static" "$work/$m/tiny"
  cp "$build/bench/tiny_static" "$work/$m/untrusted" && printf 'x' >> "$work/$m/untrusted"
  chmod 755 "$work/$m/tiny" "$work/$m/untrusted"
done
sha="$(sha256sum "$work/base/tiny" | cut -d' ' -f1)"
interleave="$build/bench/exec_interleave"
added() { sed 's/.*"added_median_us":\([-0-9.]*\).*/\1/'; }

wait_denied() {  # until MOUNT's untrusted binary is refused (its watcher is up)
  for _ in $(seq 1 300); do
    "$work/$1/untrusted" 2>/dev/null || return 0
    sleep 0.1
  done
  echo "exec_gate_bench: the watcher of $1 did not start gating" >&2
  exit 1
}
cpu_ns() {  # on-CPU time of every thread of PID, in ns (schedstat)
  local s=0 a
  for t in /proc/"$1"/task/*/schedstat; do read -r a _ < "$t"; s=$((s + a)); done
  echo "$s"
}

echo "exec_gate_bench: $cycles cycles of a $rounds-round phase per peer, fork+exec of a static binary ($(stat -c %s "$work/base/tiny") bytes), $(nproc) cores, $(uname -r), minimal responders at nice $min_nice" >&2
# ramfs against tmpfs, nothing watching yet.
fs_offset=$("$interleave" $((rounds / 2)) "$work/base/tiny" "$work/fapolicyd/tiny" | added)

# fapolicyd reads /etc/fapolicyd and keeps its database in /var/lib/fapolicyd:
# both replaced by private copies inside this mount namespace.
cat > "$work/fapo/fapolicyd.conf" <<EOF
permissive = 0
nice_val = 0
q_size = 640
uid = root
gid = root
do_stat_report = 0
detailed_report = 0
db_max_size = 50
subj_cache_size = 1549
obj_cache_size = 8191
watch_fs = ramfs
trust = file
integrity = sha256
syslog_format = rule,dec,perm,auid,pid,exe,:,path,ftype,trust
rpm_sha256_only = 0
allow_filesystem_mark = 0
EOF
echo "$work/fapolicyd/tiny $(stat -c %s "$work/fapolicyd/tiny") $sha" > "$work/fapo/fapolicyd.trust"
printf 'allow perm=any all : trust=1\ndeny_audit perm=any all : all\n' > "$work/fapo/fapolicyd.rules"
mkdir -p /etc/fapolicyd /var/lib/fapolicyd /run/fapolicyd
mount --bind "$work/fapo" /etc/fapolicyd
mount -t tmpfs fapolicyd-db /var/lib/fapolicyd
mount -t tmpfs fapolicyd-run /run/fapolicyd

cat > "$work/policy.yaml" <<EOF
apiVersion: immune/v1
kind: Policy
scope: host
mode: enforce
allow:
  - sha256:$sha
EOF
for m in immune immune-nopidfd; do
  mkdir -p "$work/state-$m"
  cat > "$work/$m.yaml" <<EOF
state_dir: $work/state-$m
tcti: embedded
policy:
  paths: [$work/policy.yaml]
gate:
  enabled: true
  mounts: [$work/$m]
  memfd_noexec: leave
  report_pidfd: $([[ $m == immune ]] && echo true || echo false)
log_level: warning
EOF
done

# Starts PEER's watcher and waits until it gates; its pid in $watcher.
start_watcher() {
  local p=""
  case $1 in
    minimal*)
      rm -f "$work/min.out"
      nice -n "$min_nice" "$build/bench/fanotify_min_responder" "$work/$1" exec+open \
        $([[ $1 == minimal-pidfd ]] && echo pidfd) > "$work/min.out" &
      p=$!
      for _ in $(seq 1 100); do grep -q ready "$work/min.out" 2>/dev/null && break; sleep 0.05; done ;;
    fapolicyd)
      fapolicyd --debug-deny >> "$work/fapolicyd.log" 2>&1 &
      p=$! ;;
    immune*)
      "$build/cmd/immuned/immuned" --config "$work/$1.yaml" >> "$work/$1.log" 2>&1 &
      p=$! ;;
  esac
  pids+=("$p")
  watcher=$p
  [[ $1 == minimal* ]] || wait_denied "$1"
}

# One phase per watcher, only that watcher running, its execs interleaved
# with the unwatched base's; phases cycle through the peers.
declare -A adds cpus
for c in $(seq 1 "$cycles"); do
  for m in "${peers[@]}"; do
    start_watcher "$m"
    p=$watcher
    "$work/$m/tiny"  # the first exec is measured (Immune: hashed, journaled, extended); the timed ones are cached
    c0=$(cpu_ns "$p")
    line=$("$interleave" "$rounds" "$work/base/tiny" "$work/$m/tiny")
    cpus[$m]+="$(awk -v a="$(cpu_ns "$p")" -v b="$c0" -v n="$rounds" 'BEGIN {printf "%.1f", (a - b) / n / 1000}') "
    a=$(echo "$line" | added)
    [[ $m == fapolicyd ]] && a=$(awk -v f="$a" -v o="$fs_offset" 'BEGIN {printf "%.2f", f - o}')
    adds[$m]+="$a "
    echo "  cycle $c $m: $line" >> "$work/phases.log"
    kill "$p"; wait "$p" 2>/dev/null || true
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
declare -A add cpu
for m in "${peers[@]}"; do
  add[$m]=$(echo "${adds[$m]}" | median)
  cpu[$m]=$(echo "${cpus[$m]}" | median)
done
echo "ramfs - tmpfs with no watcher: $fs_offset us (taken off fapolicyd's figures)"
echo "added per exec, median over $cycles phases of the median paired difference (the watcher's CPU per exec):"
for m in "${peers[@]}"; do printf "  %-15s %7.1f us   (%5.1f us CPU)   phases: %s\n" "$m" "${add[$m]}" "${cpu[$m]}" "${adds[$m]}"; done
awk -v m="${add[minimal]}" -v mp="${add[minimal-pidfd]}" -v f="${add[fapolicyd]}" -v i="${add[immune]}" -v j="${add[immune-nopidfd]}" 'BEGIN {
  if (m > 0) printf "immune / minimal   = %.2f (goal <= 1.2); without pidfds %.2f\n", i / m, j / m
  else printf "immune / minimal: no ratio, the minimal responder added %.1f us (within the noise)\n", m
  if (mp > 0) printf "immune / minimal-pidfd = %.2f (both with a pidfd per event); minimal-pidfd / minimal = %.2f\n", i / mp, (m > 0 ? mp / m : 0)
  if (f > 0) printf "immune / fapolicyd = %.2f (goal <= 0.5); without pidfds %.2f\n", i / f, j / f
}'
cat "$work/phases.log"

# In process: a cached decision, and cold hashing against openssl speed.
head -c $((256 * 1024 * 1024)) /dev/urandom > "$work/hashme"
IMMUNE_BENCH_HASH_FILE="$work/hashme" "$build/bench/exec_gate_bench" --benchmark_min_time=0.5
openssl speed -seconds 3 -bytes 16384 sha256 2>/dev/null | tail -2
