package dev.arbor.backend.onnxruntime;

import static dev.arbor.backend.onnxruntime.Gpt2Fixture.argmax;
import static dev.arbor.backend.onnxruntime.Gpt2Fixture.assertClose;
import static dev.arbor.backend.onnxruntime.Gpt2Fixture.expected;
import static dev.arbor.backend.onnxruntime.Gpt2Fixture.floats;
import static dev.arbor.backend.onnxruntime.Gpt2Fixture.greedy;
import static dev.arbor.backend.onnxruntime.Gpt2Fixture.ints;
import static dev.arbor.backend.onnxruntime.Gpt2Fixture.section;
import static dev.arbor.backend.onnxruntime.Gpt2Fixture.stateless;
import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.model.Capability;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ModelCard;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Conformance with onnxruntime-genai's own expected values for tiny-random-gpt2 (genai convention, int32 I/O). */
class TinyRandomGpt2Test {
    private static OnnxDecoderBackend backend;
    private static Map<String, Object> expected;

    @BeforeAll
    static void open() {
        backend = Gpt2Fixture.openGpt2();
        expected = expected("tiny-random-gpt2");
    }

    @AfterAll
    static void close() {
        if (backend != null) {
            backend.close();
        }
    }

    @Test
    void cardComesFromGenaiConfigAndTellsTheTruth() {
        ModelCard card = backend.card();
        assertThat(card.vocabSize()).isEqualTo(1000);
        assertThat(card.maxPositions()).isEqualTo(512);
        assertThat(card.eosTokenIds()).containsExactly(98);
        assertThat(card.bosTokenId()).hasValue(98);
        assertThat(card.padTokenId()).hasValue(98);
        assertThat(card.capabilities()).containsExactlyInAnyOrder(Capability.BATCH, Capability.PADDING,
                Capability.STATE_TRUNCATE, Capability.STATE_COMPACT, Capability.STATE_FORK,
                Capability.STATE_SELECT_ROWS);
        assertThat(backend.signature().naming).isEqualTo(DecoderSignature.KvNaming.GENAI);
        assertThat(backend.signature().layers).isEqualTo(5);
    }

    @Test
    void greedyBatch1MatchesGenaiExpected() {
        Map<String, Object> g = section(expected, "greedy_batch1");
        int[] prompt = ints(((List<?>) g.get("input_ids")).get(0));
        int[] want = ints(((List<?>) g.get("expected")).get(0));
        int maxLength = ((Number) g.get("max_length")).intValue();
        try (DecodeState state = backend.newState(1)) {
            assertThat(greedy(backend, state, prompt, maxLength)).containsExactly(want);
            assertThat(state.length()).isEqualTo(maxLength - 1);
        }
    }

    @Test
    void promptAndFirstStepLogitsMatchGenaiExpected() {
        Map<String, Object> p = section(expected, "prompt_logits_every_200th");
        int[][] rows = ((List<?>) p.get("input_ids")).stream().map(Gpt2Fixture::ints).toArray(int[][]::new);
        try (DecodeState state = backend.newState(2)) {
            float[][][] logits = backend.forward(ForwardRequest.builder(rows).state(state).build()).logits();
            assertClose(every200(logits), floats(p.get("expected")), 1e-3, "prompt logits");
            int[][] next = {{argmax(logits[0][3])}, {argmax(logits[1][3])}};
            assertThat(new int[] {next[0][0], next[1][0]}).containsExactly(204, 731);
            float[][][] step = backend.forward(ForwardRequest.next(next, state)).logits();
            assertClose(every200(step), floats(section(expected, "first_step_logits_every_200th").get("expected")),
                    1e-3, "first step logits");
        }
    }

    @Test
    void statelessPromptLogitsMatchToo() {
        Map<String, Object> p = section(expected, "prompt_logits_every_200th");
        int[][] rows = ((List<?>) p.get("input_ids")).stream().map(Gpt2Fixture::ints).toArray(int[][]::new);
        assertClose(every200(stateless(backend, rows)), floats(p.get("expected")), 1e-3, "stateless prompt logits");
    }

    @Test
    void rewindingReproducesTheSequence() {
        Map<String, Object> g = section(expected, "greedy_batch1");
        int[] prompt = ints(((List<?>) g.get("input_ids")).get(0));
        int[] want = ints(((List<?>) g.get("expected")).get(0));
        try (DecodeState state = backend.newState(1)) {
            int[] full = greedy(backend, state, prompt, 10);
            assertThat(full).containsExactly(want);

            // RewindTo(5): the cache keeps want[0..4]; feeding the already chosen want[5] must continue the run.
            state.truncate(5);
            int[] tail = greedy(backend, state, new int[] {want[5]}, 5);
            assertThat(concat(Arrays.copyOf(want, 5), tail)).containsExactly(want);

            // RewindTo(3) + append [731, 731] (= want[3], want[4]) must also continue the run.
            state.truncate(3);
            int[] again = greedy(backend, state, new int[] {731, 731}, 7);
            assertThat(concat(Arrays.copyOf(want, 3), again)).containsExactly(want);
        }
    }

    private static int[] concat(int[] a, int[] b) {
        int[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    /** logits[b][t][0, 200, 400, 600, 800] flattened in b, t order (expected.json's "sample"). */
    static float[] every200(float[][][] logits) {
        float[] out = new float[logits.length * logits[0].length * 5];
        int i = 0;
        for (float[][] rows : logits) {
            for (float[] row : rows) {
                for (int v = 0; v < 1000; v += 200) {
                    out[i++] = row[v];
                }
            }
        }
        return out;
    }
}
