#!/usr/bin/env bash
# Throughput of 1, 2 and 3 'arbor serve' replicas behind HAProxy on this machine, and of one replica alone
# (dev.arbor.benchmarks.ReplicasBenchmark): every replica is a process of the assembled installation on a loopback
# port of its own, HAProxy runs packaging/haproxy/arbor.cfg in front of them.
#
# Usage: benchmarks/replicas-bench.sh [OUT]          (from anywhere; OUT defaults to benchmarks/target/replicas.md)
# Environment (all optional):
#   MODEL=arbor-tiny    the pipeline (arbor-tiny is embedded in the installation: no models folder needed)
#   TOKENS=64 CLIENTS=4 RUN_SECONDS=20 ROUNDS=3   max_tokens, streaming clients per replica, seconds per run, rounds
#   MVN_ARGS="-o -Dmaven.repo.local=..."       extra Maven arguments for the build and the class path
# Needs the Debian package haproxy.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
OUT=$(realpath -m "${1:-$REPO/benchmarks/target/replicas.md}")
read -r -a MVN <<< "${MVN_ARGS:-}"
cd "$REPO"
export OPT_OUT_TRACKING=true DJL_OFFLINE=true ORT_DISABLE_TELEMETRY=1
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || { echo "replicas-bench: install haproxy (apt-get install haproxy)" >&2; exit 1; }

if [ ! -f distribution/target/arbor/launcher.jar ] || [ ! -f benchmarks/target/classes/dev/arbor/benchmarks/ReplicasBenchmark.class ]; then
  echo "== building the project (mvn install -DskipTests -pl benchmarks -am)"
  mvn -q "${MVN[@]}" install -DskipTests -pl benchmarks -am
fi
mvn -q "${MVN[@]}" dependency:build-classpath -pl benchmarks -Dmdep.outputFile="$REPO/benchmarks/target/replicas.cp" > /dev/null
ARGFILE="$REPO/benchmarks/target/replicas.args"
echo "-cp $REPO/benchmarks/target/classes:$(cat "$REPO/benchmarks/target/replicas.cp")" > "$ARGFILE"

java @"$ARGFILE" dev.arbor.benchmarks.ReplicasBenchmark "$REPO/distribution/target/arbor" \
  "$REPO/packaging/haproxy/arbor.cfg" "$OUT" "${MODEL:-arbor-tiny}" "${TOKENS:-64}" "${CLIENTS:-4}" \
  "${RUN_SECONDS:-20}" "${ROUNDS:-3}"
echo "== wrote $OUT"
