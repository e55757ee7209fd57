package dev.arbor.forge;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.arbor.api.Options;
import dev.arbor.api.model.AttentionSpec;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.backend.onnxruntime.OnnxDecoderBackend;
import dev.arbor.models.llama2c.Llama2cCheckpoint;
import dev.arbor.models.llama2c.Llama2cOnnxConverter;
import dev.arbor.models.llama2c.Llama2cReferenceModel;
import java.nio.file.Path;

/**
 * Proves an exported checkpoint computes what the training network computes: the logits of the DJL network and
 * of the checkpoint read back through models/llama2c (the pure-Java reference model, and ONNX Runtime through the
 * llama2c converter with its attention_bias input) on the same tokens, with the attention the model card names
 * (Causal for AR, Full for masked diffusion, Segments of block_size for block diffusion, and for TiDAR the training
 * layout of clean tokens and MASK blocks as an Explicit mask).
 */
public final class ExportCheck {

    /** Largest absolute logit differences: DJL vs reference model, DJL vs ONNX Runtime (NaN when not run). */
    public record Result(double referenceMaxAbsDiff, double onnxMaxAbsDiff, String attention) {
    }

    private ExportCheck() {
    }

    /** The spec a model of {@code kind} ("ar", "mdlm", "bd") is run with at inference, for tokens [B][T]. */
    public static AttentionSpec inferenceSpec(String kind, int blockSize, int batch, int t) {
        return switch (kind) {
            case "ar" -> AttentionSpec.CAUSAL;
            case "mdlm" -> AttentionSpec.FULL;
            case "bd" -> {
                int[][] seg = new int[batch][t];
                for (int[] row : seg) {
                    for (int j = 0; j < t; j++) {
                        row[j] = j / blockSize;
                    }
                }
                yield new AttentionSpec.Segments(seg, seg);
            }
            default -> throw new IllegalArgumentException(kind);
        };
    }

    /**
     * The DJL bias equivalent to {@link #inferenceSpec} on a sequence of length t (for bd: the clean half of the
     * training input, i.e. the model run on committed blocks).
     */
    static NDArray trainingBias(NDManager scope, String kind, int blockSize, int t) {
        return switch (kind) {
            case "ar" -> LlamaNet.bias(scope, t, (q, k) -> k <= q);
            case "mdlm" -> null;
            case "bd" -> LlamaNet.bias(scope, t, (q, k) -> k / blockSize <= q / blockSize);
            default -> throw new IllegalArgumentException(kind);
        };
    }

    /**
     * Runs {@code tokens} through the DJL network of {@code checkpoint} and the exported file; {@code onnxCache}
     * null skips ONNX Runtime.
     */
    public static Result compare(Path checkpoint, String kind, int blockSize, int[][] tokens, Path onnxCache) {
        if (kind.equals(TiDarObjective.KIND)) {
            return compareTiDar(checkpoint, blockSize, tokens, onnxCache);
        }
        return compare(checkpoint, tokens, TrainingObjective.sequentialPositions(tokens.length, tokens[0].length),
                scope -> trainingBias(scope, kind, blockSize, tokens[0].length),
                inferenceSpec(kind, blockSize, tokens.length, tokens[0].length), onnxCache);
    }

    /**
     * A TiDAR model on its training layout {@code [tokens ; MASK blocks]} (both halves at positions 0..t-1): the DJL
     * network with the training bias against the exported file with the same visibility as an
     * {@link AttentionSpec.Explicit} mask, which is the form the tidar generator sends at inference.
     */
    static Result compareTiDar(Path checkpoint, int blockSize, int[][] tokens, Path onnxCache) {
        int b = tokens.length;
        int t = tokens[0].length;
        int[][] input = new int[b][2 * t];
        int[][] positions = new int[b][2 * t];
        java.util.BitSet[][] visible = new java.util.BitSet[b][2 * t];
        for (int r = 0; r < b; r++) {
            System.arraycopy(tokens[r], 0, input[r], 0, t);
            java.util.Arrays.fill(input[r], t, 2 * t, BpeTrainer.MASK_ID);
            for (int q = 0; q < 2 * t; q++) {
                positions[r][q] = q % t;
                visible[r][q] = new java.util.BitSet(2 * t);
                for (int k = 0; k < 2 * t; k++) {
                    if (TiDarObjective.visible(q, k, t, blockSize)) {
                        visible[r][q].set(k);
                    }
                }
            }
        }
        return compare(checkpoint, input, positions,
                scope -> LlamaNet.bias(scope, 2 * t, (q, k) -> TiDarObjective.visible(q, k, t, blockSize)),
                new AttentionSpec.Explicit(visible), onnxCache);
    }

    private static Result compare(Path checkpoint, int[][] tokens, int[][] positions,
                                  java.util.function.Function<NDManager, NDArray> bias, AttentionSpec spec,
                                  Path onnxCache) {
        Llama2cCheckpoint weights = Llama2cCheckpoint.read(checkpoint);
        int b = tokens.length;
        int t = tokens[0].length;
        float[][][] djl = new float[b][t][];
        try (NDManager manager = NDManager.newBaseManager(); LlamaNet net = LlamaNet.of(weights, manager)) {
            NDArray logits = net.forward(manager, tokens, positions, bias.apply(manager));
            float[] flat = logits.toFloatArray();
            int v = weights.config().vocabSize();
            for (int r = 0; r < b; r++) {
                for (int j = 0; j < t; j++) {
                    djl[r][j] = java.util.Arrays.copyOfRange(flat, (r * t + j) * v, (r * t + j + 1) * v);
                }
            }
        }
        double ref;
        try (ModelBackend m = new Llama2cReferenceModel(weights, checkpoint.getFileName().toString())) {
            ref = maxAbsDiff(djl, m.forward(ForwardRequest.builder(tokens).positions(positions).attention(spec)
                    .build()).logits());
        }
        double ort = Double.NaN;
        if (onnxCache != null) {
            Path onnx = Llama2cOnnxConverter.convertCached(checkpoint, 0, onnxCache);
            try (ModelBackend m = OnnxDecoderBackend.open(onnx, Options.empty(), null)) {
                ort = maxAbsDiff(djl, m.forward(ForwardRequest.builder(tokens).positions(positions).attention(spec)
                        .build()).logits());
            }
        }
        return new Result(ref, ort, spec.getClass().getSimpleName());
    }

    static double maxAbsDiff(float[][][] a, float[][][] b) {
        double max = 0;
        for (int r = 0; r < a.length; r++) {
            for (int j = 0; j < a[r].length; j++) {
                if (b[r][j].length != a[r][j].length) {
                    throw new IllegalStateException("vocabulary sizes differ: " + a[r][j].length + " vs "
                            + b[r][j].length);
                }
                for (int k = 0; k < a[r][j].length; k++) {
                    max = Math.max(max, Math.abs(a[r][j][k] - b[r][j][k]));
                }
            }
        }
        return max;
    }
}
