#!/usr/bin/env bash
# Cost of structured-output constraints per token against unconstrained decoding, through the assembled runtime, on
# stories260K and tiny-random-gpt2: runs dev.arbor.benchmarks.StructuredOutputBenchmark (see its javadoc).
#
# Usage: benchmarks/structured-bench.sh [MAX_TOKENS] [ROUNDS]      (from anywhere; defaults 64 and 40)
# Environment (optional): MODELS=DIR (holds stories260K/ and tiny-random-gpt2/; default ../shared/models beside the
#   repository, or $ARBOR_MODELS), MVN_ARGS="-o -Dmaven.repo.local=..." (extra Maven arguments).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
MODELS=${MODELS:-${ARBOR_MODELS:-$REPO/../shared/models}}
MODELS=$(realpath "$MODELS")
read -r -a MVN <<< "${MVN_ARGS:-}"
cd "$REPO"
export OPT_OUT_TRACKING=true DJL_OFFLINE=true ORT_DISABLE_TELEMETRY=1 ARBOR_MODELS="$MODELS"
if [ ! -f distribution/target/arbor/launcher.jar ] \
    || [ ! -f benchmarks/target/classes/dev/arbor/benchmarks/StructuredOutputBenchmark.class ]; then
  echo "== building the project (mvn install -DskipTests -pl benchmarks -am)"
  mvn -q "${MVN[@]}" install -DskipTests -pl benchmarks -am
fi
mvn -q "${MVN[@]}" dependency:build-classpath -pl benchmarks -Dmdep.outputFile="$REPO/benchmarks/target/structured.cp" > /dev/null
ARGFILE="$REPO/benchmarks/target/structured.args"
echo "-cp $REPO/benchmarks/target/classes:$(cat "$REPO/benchmarks/target/structured.cp")" > "$ARGFILE"
java @"$ARGFILE" dev.arbor.benchmarks.StructuredOutputBenchmark "$REPO/distribution/target/arbor" "$MODELS" \
  "${1:-64}" "${2:-40}"
