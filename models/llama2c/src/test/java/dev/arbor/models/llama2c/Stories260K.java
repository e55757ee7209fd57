package dev.arbor.models.llama2c;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.arbor.testkit.SharedModels;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;

/** The shared stories260K files and the values llama2.c's own test publishes for them (expected.json). */
final class Stories260K {
    private Stories260K() {
    }

    static Path checkpoint() {
        return SharedModels.require("stories260K/stories260K.bin");
    }

    static Path tokenizer() {
        return SharedModels.require("stories260K/tok512.bin");
    }

    /** {@code stories260K.greedy} of expected.json. */
    static JsonNode greedy() {
        Path file = SharedModels.require("expected.json");
        try {
            return new ObjectMapper().readTree(file.toFile()).path("stories260K").path("greedy");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static int[] expectedIds() {
        JsonNode ids = greedy().path("generated_ids");
        int[] out = new int[ids.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = ids.get(i).asInt();
        }
        return out;
    }

    static String expectedText() {
        return greedy().path("text").asText();
    }

    /** run.c's argmax: the first index of the maximum. */
    static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            if (v[i] > v[best]) {
                best = i;
            }
        }
        return best;
    }

    static float maxAbsDiff(float[] a, float[] b) {
        if (a.length != b.length) {
            throw new AssertionError("lengths differ: " + a.length + " vs " + b.length);
        }
        float m = 0;
        for (int i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs(a[i] - b[i]));
        }
        return m;
    }
}
