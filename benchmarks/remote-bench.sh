#!/usr/bin/env bash
# The remote backend's added latency per forward on loopback against the local ONNX Runtime backend: starts
# 'bin/arbor serve --expose-models --grpc-port N' and runs dev.arbor.benchmarks.RemoteForwardBenchmark (see its javadoc).
#
# Usage: benchmarks/remote-bench.sh [TOKENS] [ROUNDS]      (from anywhere; defaults 200 and 10)
# Environment (optional): MVN_ARGS="-o -Dmaven.repo.local=..." (extra Maven arguments).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
read -r -a MVN <<< "${MVN_ARGS:-}"
cd "$REPO"
export OPT_OUT_TRACKING=true DJL_OFFLINE=true ORT_DISABLE_TELEMETRY=1
if [ ! -f distribution/target/arbor/launcher.jar ] \
    || [ ! -f benchmarks/target/classes/dev/arbor/benchmarks/RemoteForwardBenchmark.class ]; then
  echo "== building the project (mvn install -DskipTests -pl benchmarks -am)"
  mvn -q "${MVN[@]}" install -DskipTests -pl benchmarks -am
fi
mvn -q "${MVN[@]}" dependency:build-classpath -pl benchmarks -Dmdep.outputFile="$REPO/benchmarks/target/remote.cp" > /dev/null
ARGFILE="$REPO/benchmarks/target/remote.args"
echo "-cp $REPO/benchmarks/target/classes:$(cat "$REPO/benchmarks/target/remote.cp")" > "$ARGFILE"
java @"$ARGFILE" dev.arbor.benchmarks.RemoteForwardBenchmark "$REPO/distribution/target/arbor" "${1:-200}" "${2:-10}"
