#!/usr/bin/env bash
# Start-up of the CLI: `bin/arbor generate --max-tokens 1 "Once"` (default pipeline) and `bin/arbor pipelines`, the
# median of N runs (default 5) of wall time and of CPU time (user + sys, all threads), in three states:
#   cold      Arbor's start-up caches emptied before every run (<cache>/framework storage slots and <cache>/cds
#             class-data-sharing archives): each run installs the bundles into a new storage and writes the archive
#   warm      caches kept from the run before (the ordinary case from the second run of a command on)
#   no-cache  ARBOR_CDS=off and -Darbor.launcher.storage=temporary: neither cache used nor written
# Prints the machine, the date and the load before and after, since on a shared machine wall time follows the load
# and CPU time is the steadier figure. Build first (mvn -q install -DskipTests). Do not run beside another Arbor of
# the same installation in the cold state: it empties that installation's caches.
# Usage: benchmarks/startup-bench.sh [N]
set -euo pipefail
REPO=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
ARBOR="$REPO/bin/arbor"
CACHE="$REPO/distribution/target/arbor/cache"
N=${1:-5}
if [ ! -x /usr/bin/time ]; then
  echo "startup-bench: needs /usr/bin/time (Debian package 'time')" >&2
  exit 1
fi
export OPT_OUT_TRACKING=true DJL_OFFLINE=true ORT_DISABLE_TELEMETRY=1

median() { sort -n | awk '{v[NR]=$1} END {if (NR % 2) print v[(NR+1)/2]; else printf "%.2f\n", (v[NR/2]+v[NR/2+1])/2}'; }

# run STATE LABEL ARGS...: N runs, prints the medians and every run's wall/cpu
run() {
  local state=$1 label=$2
  shift 2
  local walls=() cpus=() runs=""
  local out
  out=$(mktemp)
  # one untimed run first in the warm state, so its caches exist (the cold state empties them every time)
  if [ "$state" = warm ]; then
    "$ARBOR" "$@" >/dev/null 2>&1 || true
  fi
  for _ in $(seq "$N"); do
    if [ "$state" = cold ]; then
      rm -rf "$CACHE/framework" "$CACHE/cds"
    fi
    if [ "$state" = no-cache ]; then
      ARBOR_CDS=off JAVA_OPTS="-Darbor.launcher.storage=temporary ${JAVA_OPTS:-}" \
        /usr/bin/time -f "%e %U %S" -o "$out" "$ARBOR" "$@" >/dev/null 2>&1
    else
      /usr/bin/time -f "%e %U %S" -o "$out" "$ARBOR" "$@" >/dev/null 2>&1
    fi
    read -r wall user sys < <(tail -1 "$out")
    local cpu
    cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN {printf "%.2f", u + s}')
    walls+=("$wall")
    cpus+=("$cpu")
    runs="$runs $wall/$cpu"
  done
  rm -f "$out"
  printf '%-9s %-34s wall %5s s  cpu %5s s   (runs wall/cpu:%s)\n' "$state" "$label" \
    "$(printf '%s\n' "${walls[@]}" | median)" "$(printf '%s\n' "${cpus[@]}" | median)" "$runs"
}

echo "# arbor start-up, median of $N runs"
echo "# date:    $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "# machine: $(uname -srm); $(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //'); $(nproc) CPUs"
echo "# java:    $(java -version 2>&1 | head -1)"
echo "# load before: $(uptime | sed 's/.*load average/load average/')"
for state in cold warm no-cache; do
  run "$state" 'generate --max-tokens 1 "Once"' generate --max-tokens 1 "Once"
  run "$state" 'pipelines' pipelines
done
echo "# load after:  $(uptime | sed 's/.*load average/load average/')"
