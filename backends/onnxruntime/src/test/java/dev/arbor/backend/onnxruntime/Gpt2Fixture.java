package dev.arbor.backend.onnxruntime;

import dev.arbor.api.Options;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.testkit.SharedModels;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/** Shared helpers for tests on the shared reference models (read in place, never copied). */
final class Gpt2Fixture {
    private Gpt2Fixture() {
    }

    static Path gpt2() {
        return SharedModels.require("tiny-random-gpt2/past.onnx");
    }

    static OnnxDecoderBackend openGpt2() {
        return OnnxDecoderBackend.open(gpt2(), Options.empty(), null);
    }

    /** The "tiny-random-gpt2" (or other) entry of expected.json. */
    @SuppressWarnings("unchecked")
    static Map<String, Object> expected(String model) {
        Path file = SharedModels.require("expected.json");
        try {
            Map<String, Object> all = new com.fasterxml.jackson.databind.ObjectMapper()
                    .readValue(Files.readString(file), Map.class);
            return (Map<String, Object>) all.get(model);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> section(Map<String, Object> map, String key) {
        return (Map<String, Object>) map.get(key);
    }

    static int[] ints(Object list) {
        return ((List<?>) list).stream().mapToInt(o -> ((Number) o).intValue()).toArray();
    }

    static float[] floats(Object list) {
        List<?> l = (List<?>) list;
        float[] out = new float[l.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = ((Number) l.get(i)).floatValue();
        }
        return out;
    }

    static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            if (v[i] > v[best]) {
                best = i;
            }
        }
        return best;
    }

    /** Greedy decoding of one row from {@code prompt} until {@code maxLength} tokens (prompt included). */
    static int[] greedy(ModelBackend backend, DecodeState state, int[] prompt, int maxLength) {
        int[] seq = java.util.Arrays.copyOf(prompt, maxLength);
        int len = prompt.length;
        int[] next = prompt;
        while (len < maxLength) {
            float[] logits = backend.forward(ForwardRequest.next(new int[][] {next}, state)).last(0);
            seq[len] = argmax(logits);
            next = new int[] {seq[len]};
            len++;
        }
        return seq;
    }

    /** Stateless logits of every position of {@code rows} (the reference path). */
    static float[][][] stateless(ModelBackend backend, int[][] rows) {
        return backend.forward(ForwardRequest.builder(rows).build()).logits();
    }

    static void assertClose(float[] actual, float[] expected, double tol, String what) {
        org.assertj.core.api.Assertions.assertThat(actual).as(what).hasSameSizeAs(expected);
        for (int i = 0; i < actual.length; i++) {
            if (!(Math.abs(actual[i] - expected[i]) <= tol)) {
                throw new AssertionError(what + ": index " + i + " is " + actual[i] + ", expected " + expected[i]
                        + " (tolerance " + tol + ")");
            }
        }
    }
}
