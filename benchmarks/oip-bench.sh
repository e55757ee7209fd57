#!/usr/bin/env bash
# Per-request cost of the OpenAI route, the Open Inference Protocol's REST route and its gRPC ModelInfer on the
# embedded arbor-tiny pipeline (one greedy token), against an in-process call: runs
# dev.arbor.benchmarks.OipOverheadBenchmark (see its javadoc).
#
# Usage: benchmarks/oip-bench.sh [REQUESTS] [WARMUP]      (from anywhere; defaults 500 and 100)
# Environment (optional): MVN_ARGS="-o -Dmaven.repo.local=..." (extra Maven arguments).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
read -r -a MVN <<< "${MVN_ARGS:-}"
cd "$REPO"
export OPT_OUT_TRACKING=true DJL_OFFLINE=true ORT_DISABLE_TELEMETRY=1
if [ ! -f distribution/target/arbor/launcher.jar ] \
    || [ ! -f benchmarks/target/classes/dev/arbor/benchmarks/OipOverheadBenchmark.class ]; then
  echo "== building the project (mvn install -DskipTests -pl benchmarks -am)"
  mvn -q "${MVN[@]}" install -DskipTests -pl benchmarks -am
fi
mvn -q "${MVN[@]}" dependency:build-classpath -pl benchmarks -Dmdep.outputFile="$REPO/benchmarks/target/oip.cp" > /dev/null
ARGFILE="$REPO/benchmarks/target/oip.args"
echo "-cp $REPO/benchmarks/target/classes:$(cat "$REPO/benchmarks/target/oip.cp")" > "$ARGFILE"
java @"$ARGFILE" dev.arbor.benchmarks.OipOverheadBenchmark "$REPO/distribution/target/arbor" "${1:-500}" "${2:-100}"
