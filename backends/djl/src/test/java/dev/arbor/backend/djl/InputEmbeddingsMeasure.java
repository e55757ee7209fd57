package dev.arbor.backend.djl;

import dev.arbor.api.Options;
import dev.arbor.api.model.AttentionSpec;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelSpec;
import dev.arbor.backend.onnxruntime.OnnxRuntimeBackendProvider;
import dev.arbor.models.llama2c.Llama2cConfig;
import dev.arbor.models.llama2c.Llama2cModelCard;
import dev.arbor.models.llama2c.RandomLlama2cCheckpoint;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.Random;

/**
 * A brief measurement (not a test): time per scale-step forward of a VAR-shaped random llama2.c model (vocabulary
 * 545, scales 1, 2, 3, 4, 5, 7 = 104 positions, two rows as for CFG) on the onnxruntime and djl backends, the way
 * the next-scale generator runs it: the class token as a token id, then each scale's embeddings with the scale
 * Segments mask, KV appended. The backends alternate image by image so load changes hit both alike. Run with the
 * test class path: {@code java -cp ... dev.arbor.backend.djl.InputEmbeddingsMeasure <work dir> [images]
 * [dim,hidden,layers,heads,kv_heads]}.
 */
public final class InputEmbeddingsMeasure {
    private static final int[] SIDES = {1, 2, 3, 4, 5, 7};

    private InputEmbeddingsMeasure() {
    }

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        int images = args.length > 1 ? Integer.parseInt(args[1]) : 50;
        int[] s = args.length > 2 ? Arrays.stream(args[2].split(",")).mapToInt(Integer::parseInt).toArray()
                : new int[] {128, 512, 4, 4, 4};
        int positions = Arrays.stream(SIDES).map(x -> x * x).sum();
        Llama2cConfig cfg = new Llama2cConfig(s[0], s[1], s[2], s[3], s[4], 545, positions, false);
        Files.createDirectories(dir);
        Path checkpoint = dir.resolve("var-measure.bin");
        RandomLlama2cCheckpoint.write(cfg, 1, checkpoint);
        Files.writeString(Llama2cModelCard.sidecarOf(checkpoint), "{\"name\": \"var-measure\", \"alignment\": "
                + "\"SAME\", \"attention\": \"SCALE_CAUSAL\"}");
        float[][][] inputs = new float[2][positions][cfg.dim()];
        Random rng = new Random(2);
        for (float[][] row : inputs) {
            for (float[] v : row) {
                for (int i = 0; i < v.length; i++) {
                    v[i] = (float) (rng.nextGaussian() * 0.05);
                }
            }
        }
        int[] seg = new int[positions];
        for (int k = 0, p = 0; k < SIDES.length; k++) {
            for (int i = 0; i < SIDES[k] * SIDES[k]; i++) {
                seg[p++] = k;
            }
        }
        try (ModelBackend ort = new OnnxRuntimeBackendProvider().open(new ModelSpec(checkpoint, "llama2c",
                Options.of(Map.of("cache_dir", dir.resolve("cache").toString()))));
             ModelBackend djl = DjlTestSupport.provider().open(new ModelSpec(checkpoint, "llama2c",
                     Options.empty()))) {
            ModelBackend[] ms = {ort, djl};
            long[][] nanos = new long[2][SIDES.length];
            for (int img = -10; img < images; img++) { // 10 warm-up images
                for (int m = 0; m < 2; m++) {
                    long[] t = image(ms[m], inputs, seg);
                    if (img >= 0) {
                        for (int k = 0; k < SIDES.length; k++) {
                            nanos[m][k] += t[k];
                        }
                    }
                }
            }
            System.out.printf("model %s, 2 rows, %d images = %d scale steps per backend%n", cfg, images,
                    images * SIDES.length);
            String[] names = {"onnxruntime", "djl"};
            for (int m = 0; m < 2; m++) {
                StringBuilder per = new StringBuilder();
                long total = 0;
                for (int k = 0; k < SIDES.length; k++) {
                    total += nanos[m][k];
                    per.append(String.format(" %d:%.3f", SIDES[k] * SIDES[k], nanos[m][k] / 1e6 / images));
                }
                System.out.printf("%-12s mean %.3f ms per scale step, %.2f ms per image; per step size (new "
                        + "positions: ms)%s%n", names[m], total / 1e6 / images / SIDES.length, total / 1e6 / images,
                        per);
            }
        }
    }

    /** One image's six forwards; returns the nanoseconds of each. */
    private static long[] image(ModelBackend m, float[][][] inputs, int[] seg) {
        long[] t = new long[SIDES.length];
        try (DecodeState state = m.newState(2)) {
            int from = 0;
            for (int k = 0; k < SIDES.length; k++) {
                int n = SIDES[k] * SIDES[k];
                int[][] q = new int[2][];
                int[][] keys = new int[2][];
                float[][][] e = new float[2][][];
                for (int b = 0; b < 2; b++) {
                    q[b] = Arrays.copyOfRange(seg, from, from + n);
                    keys[b] = Arrays.copyOf(seg, from + n);
                    e[b] = Arrays.copyOfRange(inputs[b], from, from + n);
                }
                ForwardRequest.Builder r = k == 0 ? ForwardRequest.builder(new int[][] {{3}, {10}})
                        : ForwardRequest.builderForEmbeddings(e);
                ForwardRequest req = r.state(state).attention(new AttentionSpec.Segments(q, keys)).build();
                long t0 = System.nanoTime();
                m.forward(req);
                t[k] = System.nanoTime() - t0;
                from += n;
            }
        }
        return t;
    }
}
