#!/usr/bin/env bash
# The image table of BENCHMARKS.md: raster AR, VAR next-scale, SJD and GSD on the forge's Fashion-MNIST priors
# (forwards and wall time per image, class accuracy, Fréchet distance, CFG sweep, sample grids).
#
#   benchmarks/image-bench.sh [OUT] [PER_CLASS] [SWEEP_PER_CLASS] [ONLY]
#
# ONLY (optional) limits the run to the variants of these pipelines (comma-separated, e.g. fashion-ar,fashion-nbp).
# OUT (default benchmarks/results/images) receives the grids (PNG) and the sweep plot (SVG); the tables go to stdout.
# MVN_ARGS (e.g. -o) is passed to Maven.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${1:-$REPO/benchmarks/results/images}"
PER_CLASS="${2:-100}"
SWEEP_PER_CLASS="${3:-30}"
ONLY="${4:-}"
read -r -a MVN <<< "${MVN_ARGS:-}"
cd "$REPO"
# ONNX Runtime and DJL must not phone home
export OPT_OUT_TRACKING=true DJL_OFFLINE=true ORT_DISABLE_TELEMETRY=1
if [ ! -f distribution/target/arbor/launcher.jar ] || [ ! -f benchmarks/target/classes/dev/arbor/benchmarks/ImageBenchmark.class ]; then
  echo "== building the project (mvn install -DskipTests -pl benchmarks -am)"
  mvn -q "${MVN[@]}" install -DskipTests -pl benchmarks -am
fi
mvn -q "${MVN[@]}" dependency:build-classpath -pl benchmarks -Dmdep.outputFile="$REPO/benchmarks/target/image.cp" > /dev/null
ARGFILE="$REPO/benchmarks/target/image.args"
echo "-cp $REPO/benchmarks/target/classes:$(cat "$REPO/benchmarks/target/image.cp")" > "$ARGFILE"
java -Dai.djl.offline=true @"$ARGFILE" dev.arbor.benchmarks.ImageBenchmark distribution/target/arbor "$OUT" \
  "$PER_CLASS" "$SWEEP_PER_CLASS" "$ONLY"
