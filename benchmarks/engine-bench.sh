#!/usr/bin/env bash
# Arbor's decode engine against llama2.c, llama.cpp and a minimal ONNX Runtime loop, end to end, in one command:
# builds the project if needed, writes the seeded random-weight llama of stories15M's shape, converts both models to
# GGUF (F32, Q8_0, Q4_0) for llama.cpp, and runs dev.arbor.benchmarks.EngineBenchmark with every peer found in PEERS.
#
# Usage: benchmarks/engine-bench.sh PEERS [OUT]          (from anywhere; OUT defaults to benchmarks/target/engine)
#   PEERS  a scratch folder OUTSIDE the repository holding the peers, built from their sources (see BENCHMARKS.md,
#          "Engine: ..."): PEERS/run, PEERS/runomp (llama2.c run.c without and with OpenMP), PEERS/tokenizer.bin
#          (llama2.c's 32000-token tokenizer) and PEERS/llama.cpp/build/bin/{llama-bench,llama-quantize,
#          llama-convert-llama2c-to-ggml}. A missing peer is reported "not measured", never fatal.
# Environment (all optional):
#   MODELS=DIR          holds stories260K/ (default: ../shared/models beside the repository, or $ARBOR_MODELS)
#   TOKENS=200 ROUNDS=5 WARMUP=2 CONCURRENCY=1,4,16,64 SERVING_MODELS=stories260K,random15m SEED=42
#   VARIANTS=...        Arbor variants, name:key=value;key=value,... (default: EngineBenchmark.DEFAULT_VARIANTS)
#   SERVING_VARIANT=... the variant served over HTTP (default: the first variant)
#   MVN_ARGS="-o -Dmaven.repo.local=..."   extra Maven arguments for the build and the class path
#   JAVA_OPTS="..."     extra JVM options (for example -XX:+FlightRecorder settings)
set -euo pipefail
PEERS=$(realpath "${1:?usage: engine-bench.sh PEERS [OUT]}")
REPO=$(cd "$(dirname "$0")/.." && pwd)
OUT=$(realpath -m "${2:-$REPO/benchmarks/target/engine}")
MODELS=${MODELS:-${ARBOR_MODELS:-$REPO/../shared/models}}
MODELS=$(realpath "$MODELS")
SEED=${SEED:-42}
read -r -a MVN <<< "${MVN_ARGS:-}"
cd "$REPO"
case "$PEERS/" in "$REPO"/*) echo "engine-bench: PEERS must be outside the repository" >&2; exit 1;; esac

# ONNX Runtime must not start its telemetry (it can crash the JVM on a long command line; see BENCHMARKS.md)
export OPT_OUT_TRACKING=true DJL_OFFLINE=true ORT_DISABLE_TELEMETRY=1 ARBOR_MODELS="$MODELS"

# 1. the project: distribution, benchmark classes and their class path (an @argfile keeps the command line short)
if [ ! -f distribution/target/arbor/launcher.jar ] || [ ! -f benchmarks/target/classes/dev/arbor/benchmarks/EngineBenchmark.class ]; then
  echo "== building the project (mvn install -DskipTests -pl benchmarks -am)"
  mvn -q "${MVN[@]}" install -DskipTests -pl benchmarks -am
fi
mvn -q "${MVN[@]}" dependency:build-classpath -pl benchmarks -Dmdep.outputFile="$REPO/benchmarks/target/engine.cp" > /dev/null
ARGFILE="$REPO/benchmarks/target/engine.args"
echo "-cp $REPO/benchmarks/target/classes:$(cat "$REPO/benchmarks/target/engine.cp")" > "$ARGFILE"

# 2. the random-weight llama of stories15M's shape (dim 288, hidden 768, 6 layers, 6 heads, vocab 32000, seq 256)
RANDOM15M="$PEERS/random15m-seed$SEED.bin"
if [ ! -f "$RANDOM15M" ]; then
  echo "== writing $RANDOM15M"
  java @"$ARGFILE" dev.arbor.models.llama2c.RandomLlama2cCheckpoint "$RANDOM15M" "$SEED"
fi

# 3. GGUF files for llama.cpp: F32 by llama.cpp's own converter, Q8_0 and Q4_0 by llama-quantize. stories260K's
#    hidden size (172) is not a multiple of llama.cpp's 32-value blocks, so it has F32 only.
BIN="$PEERS/llama.cpp/build/bin"
GGUF="$PEERS/gguf"
mkdir -p "$GGUF"
to_gguf() {   # to_gguf CHECKPOINT TOKENIZER
  local name; name=$(basename "$1" .bin)
  if [ -x "$BIN/llama-convert-llama2c-to-ggml" ] && [ ! -f "$GGUF/$name-f32.gguf" ]; then
    "$BIN/llama-convert-llama2c-to-ggml" --copy-vocab-from-model "$2" --llama2c-model "$1" \
        --llama2c-output-model "$GGUF/$name-f32.gguf" > "$GGUF/$name-convert.log" 2>&1 \
      || echo "   llama.cpp conversion of $name failed (see $GGUF/$name-convert.log)"
  fi
  for q in Q8_0 Q4_0; do
    if [ -x "$BIN/llama-quantize" ] && [ -f "$GGUF/$name-f32.gguf" ] && [ ! -f "$GGUF/$name-$q.gguf" ]; then
      if "$BIN/llama-quantize" "$GGUF/$name-f32.gguf" "$GGUF/$name-$q.tmp" "$q" > "$GGUF/$name-$q.log" 2>&1; then
        mv "$GGUF/$name-$q.tmp" "$GGUF/$name-$q.gguf"
      else
        echo "   $name: no $q (llama-quantize refused it, see $GGUF/$name-$q.log)"
      fi
      rm -f "$GGUF/$name-$q.tmp"
    fi
  done
}
echo "== GGUF files in $GGUF"
to_gguf "$MODELS/stories260K/stories260K.bin" "$MODELS/stories260K/tok512.bin"
to_gguf "$RANDOM15M" "$PEERS/tokenizer.bin"

# 4. the benchmark (one JVM; peers as subprocesses, interleaved round by round)
ARGS=(dist="$REPO/distribution/target/arbor" models="$MODELS" peers="$PEERS" random15m="$RANDOM15M"
      tokenizer32k="$PEERS/tokenizer.bin" gguf="$GGUF" out="$OUT"
      tokens="${TOKENS:-200}" rounds="${ROUNDS:-5}" warmup="${WARMUP:-2}" concurrency="${CONCURRENCY:-1,4,16,64}"
      serving-models="${SERVING_MODELS:-stories260K,random15m}")
[ -n "${VARIANTS:-}" ] && ARGS+=(variants="$VARIANTS")
[ -n "${SERVING_VARIANT:-}" ] && ARGS+=(serving-variant="$SERVING_VARIANT")
echo "== EngineBenchmark ${ARGS[*]}"
read -r -a JOPTS <<< "${JAVA_OPTS:-}"
java "${JOPTS[@]}" @"$ARGFILE" dev.arbor.benchmarks.EngineBenchmark "${ARGS[@]}"
echo "== tables: $OUT/engine.md; plots: $OUT/engine-tokens.svg, $OUT/engine-concurrency.svg"
