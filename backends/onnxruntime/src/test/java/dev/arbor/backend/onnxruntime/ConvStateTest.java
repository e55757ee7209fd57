package dev.arbor.backend.onnxruntime;

import static dev.arbor.backend.onnxruntime.Gpt2Fixture.argmax;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.model.AttentionSpec;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.model.StateWrite;
import dev.arbor.testkit.SharedModels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Convolution state beside KV (hybrid LFM2 graphs), on the shared {@code tiny-random-lfm2} (onnxruntime-genai's
 * own test model: loads, generates, refuses rewind as its {@code RewindLfm2Fp32ThrowsCAPI} test expects) and on
 * {@link TinyHybridGraph}, whose logits depend on the carried state, so that every equality below would fail if the
 * state were lost, reset, shared between rows or mixed up by row edits.
 */
class ConvStateTest {
    @TempDir
    static Path dir;
    private static OnnxDecoderBackend lfm2;
    private static OnnxDecoderBackend hybrid;

    @BeforeAll
    static void open() throws Exception {
        lfm2 = OnnxDecoderBackend.open(SharedModels.require("tiny-random-lfm2"), Options.empty(), null);
        hybrid = OnnxDecoderBackend.open(TinyHybridGraph.write(dir, 7), Options.empty(), null);
    }

    @AfterAll
    static void close() {
        for (OnnxDecoderBackend b : new OnnxDecoderBackend[] {lfm2, hybrid}) {
            if (b != null) {
                b.close();
            }
        }
    }

    static Stream<String> models() {
        return Stream.of("tiny-random-lfm2", "tiny-hybrid");
    }

    private static OnnxDecoderBackend model(String name) {
        return name.equals("tiny-random-lfm2") ? lfm2 : hybrid;
    }

    @Test
    void lfm2LoadsWithConvStateNextToKvAndACardThatClaimsNoRewind() {
        DecoderSignature sig = lfm2.signature();
        assertThat(sig.convPastNames).containsExactly("past_conv.0", "past_conv.2");
        assertThat(sig.convPresentNames).containsExactly("present_conv.0", "present_conv.2");
        assertThat(sig.convLayers).containsExactly(0, 2);
        assertThat(sig.kvLayers).containsExactly(1, 3);
        assertThat(sig.convDims[0]).containsExactly(32, 4);
        assertThat(sig.pastNames).containsExactly("past_key_values.1.key", "past_key_values.1.value",
                "past_key_values.3.key", "past_key_values.3.value");
        ModelCard card = lfm2.card();
        assertThat(card.vocabSize()).isEqualTo(1000);
        assertThat(card.maxPositions()).isEqualTo(512);
        assertThat(card.eosTokenIds()).containsExactly(98);
        for (OnnxDecoderBackend b : new OnnxDecoderBackend[] {lfm2, hybrid}) {
            assertThat(b.card().capabilities()).containsExactlyInAnyOrder(Capability.BATCH, Capability.STATE_FORK,
                    Capability.STATE_SELECT_ROWS);
        }
    }

    /** onnxruntime-genai's GreedySearchLfm2Fp32CAPI: prompt {0, 0, 195, 731}, max_length 10, generates. */
    @Test
    void lfm2GeneratesFromGenaisPrompt() {
        try (DecodeState state = lfm2.newState(1)) {
            int[] seq = Gpt2Fixture.greedy(lfm2, state, new int[] {0, 0, 195, 731}, 10);
            assertThat(seq).hasSize(10).startsWith(0, 0, 195, 731);
            assertThat(state.length()).isEqualTo(9);
            assertThat(seq).containsExactly(recomputedGreedy(lfm2, new int[] {0, 0, 195, 731}, 6));
        }
    }

    @ParameterizedTest
    @MethodSource("models")
    void greedyWithTheCarriedStateEqualsAFullRecomputeEveryStep(String name) {
        OnnxDecoderBackend b = model(name);
        Random rnd = new Random(11);
        for (int promptLength : new int[] {1, 3, 7}) {
            for (int steps : new int[] {1, 6, 14}) {
                int[] prompt = rnd.ints(promptLength, 0, b.card().vocabSize()).toArray();
                int[] cached;
                try (DecodeState state = b.newState(1)) {
                    cached = Gpt2Fixture.greedy(b, state, prompt, promptLength + steps);
                }
                assertThat(cached).as("%s, prompt %s, %d steps", name, Arrays.toString(prompt), steps)
                        .containsExactly(recomputedGreedy(b, prompt, steps));
            }
        }
    }

    @ParameterizedTest
    @MethodSource("models")
    void cachedLogitsMatchTheRecomputedOnesAtEveryStep(String name) {
        OnnxDecoderBackend b = model(name);
        int[] seq = {5, 17, 3, 9, 9, 1, 30, 2, 8, 21, 14, 6};
        try (DecodeState state = b.newState(1)) {
            for (int t = 0; t < seq.length; t++) {
                float[] cached = b.forward(ForwardRequest.next(new int[][] {{seq[t]}}, state)).last(0);
                float[][][] full = Gpt2Fixture.stateless(b, new int[][] {Arrays.copyOf(seq, t + 1)});
                Gpt2Fixture.assertClose(cached, full[0][t], 1e-4, name + " step " + t);
            }
        }
    }

    @ParameterizedTest
    @MethodSource("models")
    void aMultiTokenPrefillEqualsStepByStepFeedingAcrossChunkBoundaries(String name) {
        OnnxDecoderBackend b = model(name);
        int[] seq = {4, 8, 15, 16, 23, 2, 11, 7, 30, 1};
        float[][] stepwise = new float[seq.length][];
        try (DecodeState state = b.newState(1)) {
            for (int t = 0; t < seq.length; t++) {
                stepwise[t] = b.forward(ForwardRequest.next(new int[][] {{seq[t]}}, state)).last(0);
            }
        }
        for (int[] chunks : new int[][] {{10}, {3, 2, 5}, {1, 6, 3}, {5, 5}}) {
            try (DecodeState state = b.newState(1)) {
                int at = 0;
                for (int c : chunks) {
                    float[][][] logits = b.forward(ForwardRequest.builder(new int[][] {
                        Arrays.copyOfRange(seq, at, at + c)}).state(state).build()).logits();
                    for (int j = 0; j < c; j++) {
                        Gpt2Fixture.assertClose(logits[0][j], stepwise[at + j], 1e-4, name + " chunks "
                                + Arrays.toString(chunks) + " token " + (at + j));
                    }
                    at += c;
                }
                assertThat(state.length()).isEqualTo(seq.length);
            }
        }
    }

    @ParameterizedTest
    @MethodSource("models")
    void aBatchOfTwoDifferentRowsDecodesAsTwoSingleRuns(String name) {
        OnnxDecoderBackend b = model(name);
        int[][] prompts = {{3, 1, 4, 1}, {2, 7, 1, 8}};
        int steps = 9;
        int[][] batched = new int[2][steps];
        try (DecodeState state = b.newState(2)) {
            int[][] next = prompts;
            for (int s = 0; s < steps; s++) {
                float[][][] logits = b.forward(ForwardRequest.next(next, state)).logits();
                next = new int[2][];
                for (int r = 0; r < 2; r++) {
                    batched[r][s] = argmax(logits[r][logits[r].length - 1]);
                    next[r] = new int[] {batched[r][s]};
                }
            }
        }
        for (int r = 0; r < 2; r++) {
            assertThat(batched[r]).as("%s row %d", name, r)
                    .containsExactly(Arrays.copyOfRange(recomputedGreedy(b, prompts[r], steps), 4, 4 + steps));
        }
    }

    @ParameterizedTest
    @MethodSource("models")
    void aForkThenDivergingEqualsTwoIndependentRuns(String name) {
        OnnxDecoderBackend b = model(name);
        int[] prompt = {6, 2, 9};
        try (DecodeState parent = b.newState(1)) {
            b.forward(ForwardRequest.next(new int[][] {prompt}, parent));
            try (DecodeState child = parent.fork()) {
                float[][] parentLogits = feed(b, parent, 1, 5, 12);
                float[][] childLogits = feed(b, child, 20, 3);
                float[][] wantParent = stateless(b, new int[] {6, 2, 9, 1, 5, 12});
                float[][] wantChild = stateless(b, new int[] {6, 2, 9, 20, 3});
                for (int i = 0; i < 3; i++) {
                    Gpt2Fixture.assertClose(parentLogits[i], wantParent[3 + i], 1e-4, name + " parent " + i);
                }
                for (int i = 0; i < 2; i++) {
                    Gpt2Fixture.assertClose(childLogits[i], wantChild[3 + i], 1e-4, name + " child " + i);
                }
                assertThat(parent.length()).isEqualTo(6);
                assertThat(child.length()).isEqualTo(5);
            }
            // The parent outlives its closed fork with its state intact.
            Gpt2Fixture.assertClose(feed(b, parent, 7)[0], stateless(b, new int[] {6, 2, 9, 1, 5, 12, 7})[6], 1e-4,
                    name + " parent after the fork closed");
        }
    }

    @ParameterizedTest
    @MethodSource("models")
    void selectRowsAndDropRowsCarryEachRowsConvolutionState(String name) {
        OnnxDecoderBackend b = model(name);
        int[][] prompts = {{1, 2, 3}, {9, 8, 7}, {5, 5, 6}};
        try (DecodeState state = b.newState(3)) {
            b.forward(ForwardRequest.next(prompts, state));
            state.selectRows(new int[] {2, 0, 2});
            assertThat(state.batchSize()).isEqualTo(3);
            int[][] next = {{11}, {12}, {13}};
            float[][][] logits = b.forward(ForwardRequest.next(next, state)).logits();
            int[] source = {2, 0, 2};
            for (int r = 0; r < 3; r++) {
                int[] seq = {prompts[source[r]][0], prompts[source[r]][1], prompts[source[r]][2], next[r][0]};
                Gpt2Fixture.assertClose(logits[r][0], stateless(b, seq)[3], 1e-4, name + " selected row " + r);
            }
            state.dropRows(new int[] {0});
            assertThat(state.batchSize()).isEqualTo(2);
            float[][][] after = b.forward(ForwardRequest.next(new int[][] {{14}, {15}}, state)).logits();
            Gpt2Fixture.assertClose(after[0][0], stateless(b, new int[] {1, 2, 3, 12, 14})[4], 1e-4, name + " kept 0");
            Gpt2Fixture.assertClose(after[1][0], stateless(b, new int[] {5, 5, 6, 13, 15})[4], 1e-4, name + " kept 1");
        }
    }

    /**
     * As onnxruntime-genai's RewindLfm2Fp32ThrowsCAPI: after a prompt and a generated token, rewinding (to 0
     * included) throws, saying the convolution state cannot be rewound; the state is left as it was. A truncate to
     * the current length drops nothing and is allowed; out-of-range lengths stay invalid input.
     */
    @ParameterizedTest
    @MethodSource("models")
    void truncateAndCompactRefuseWhatTheConvolutionStateCannotDo(String name) {
        OnnxDecoderBackend b = model(name);
        try (DecodeState state = b.newState(1)) {
            b.forward(ForwardRequest.next(new int[][] {{0, 0, 19, 31}}, state));
            b.forward(ForwardRequest.next(new int[][] {{2}}, state));
            for (int to : new int[] {0, 3, 4}) {
                assertThatThrownBy(() -> state.truncate(to)).isInstanceOf(ArborException.class)
                        .satisfies(e -> assertThat(((ArborException) e).kind())
                                .isEqualTo(ArborException.Kind.INCOMPATIBLE))
                        .hasMessageContaining("truncate(" + to + ")")
                        .hasMessageContaining("convolution state (past_conv.0, past_conv.2)")
                        .hasMessageContaining("cannot be rewound")
                        .hasMessageContaining("STATE_TRUNCATE")
                        .hasMessageContaining("newState()");
            }
            assertThatThrownBy(() -> state.compact(new int[] {0, 2, 4})).isInstanceOf(ArborException.class)
                    .hasMessageContaining("cannot be rewound").hasMessageContaining("STATE_COMPACT");
            assertThatThrownBy(() -> state.truncate(6)).isInstanceOf(ArborException.class)
                    .satisfies(e -> assertThat(((ArborException) e).kind())
                            .isEqualTo(ArborException.Kind.INVALID_INPUT));
            state.truncate(5);
            state.compact(new int[] {0, 1, 2, 3, 4});
            assertThat(state.length()).isEqualTo(5);
            Gpt2Fixture.assertClose(feed(b, state, 8)[0], stateless(b, new int[] {0, 0, 19, 31, 2, 8})[5], 1e-4,
                    name + " after the refused edits");
        }
    }

    @ParameterizedTest
    @MethodSource("models")
    void aForwardThatDoesNotWriteLeavesTheConvolutionStateAsItWas(String name) {
        OnnxDecoderBackend b = model(name);
        try (DecodeState state = b.newState(1)) {
            b.forward(ForwardRequest.next(new int[][] {{7, 3, 9}}, state));
            float[] peek = b.forward(ForwardRequest.builder(new int[][] {{25, 26}}).state(state)
                    .write(StateWrite.NONE).build()).last(0);
            Gpt2Fixture.assertClose(peek, stateless(b, new int[] {7, 3, 9, 25, 26})[4], 1e-4, name + " peek");
            assertThat(state.length()).isEqualTo(3);
            Gpt2Fixture.assertClose(feed(b, state, 4)[0], stateless(b, new int[] {7, 3, 9, 4})[3], 1e-4,
                    name + " after the peek");
        }
    }

    @ParameterizedTest
    @MethodSource("models")
    void writesAtSlotsAndPaddedRowsAreRefusedNamingWhy(String name) {
        OnnxDecoderBackend b = model(name);
        try (DecodeState state = b.newState(1)) {
            b.forward(ForwardRequest.next(new int[][] {{1, 2, 3}}, state));
            assertThatThrownBy(() -> b.forward(ForwardRequest.builder(new int[][] {{4}}).state(state)
                    .write(new StateWrite.At(new int[] {1})).build()))
                    .isInstanceOf(ArborException.class).hasMessageContaining("StateWrite.At")
                    .hasMessageContaining("convolution state");
        }
        assertThatThrownBy(() -> b.forward(ForwardRequest.builder(new int[][] {{1, 2}, {3, 4}})
                .attention(new AttentionSpec.WithPadding(AttentionSpec.CAUSAL,
                        new boolean[][] {{false, true}, {true, true}})).build()))
                .isInstanceOf(ArborException.class).hasMessageContaining("PADDING");
    }

    @Test
    void aGraphWithConvolutionInputsButAMissingPresentOutputIsRefused() throws Exception {
        Path file = TinyHybridGraph.write(dir, 3, "present_conv.2");
        assertThatThrownBy(() -> OnnxDecoderBackend.open(file, Options.empty(), null))
                .isInstanceOf(ArborException.class)
                .satisfies(e -> assertThat(((ArborException) e).kind()).isEqualTo(ArborException.Kind.BAD_MODEL))
                .hasMessageContaining(file.toString())
                .hasMessageContaining("lacks output 'present_conv.2'")
                .hasMessageContaining("convolution-state input 'past_conv.2'");
    }

    @Test
    void aFusedGraphWithConvolutionStateIsRefused(@TempDir Path own) throws Exception {
        Path file = TinyFusedGraph.write(own, 3, "past_conv.0");
        assertThatThrownBy(() -> OnnxDecoderBackend.open(file, Options.empty(), null))
                .isInstanceOf(ArborException.class)
                .hasMessageContaining("is fused and carries convolution state (past_conv.0)")
                .hasMessageContaining("non-fused graphs only");
    }

    @Test
    void aGenaiConfigWhoseLayerTypesOrCacheSizeDisagreeWithTheGraphIsRefused(@TempDir Path own) throws Exception {
        Path file = TinyHybridGraph.write(own, 3);
        Files.writeString(own.resolve("genai_config.json"), "{\"model\": {\"type\": \"lfm2\", \"decoder\": {"
                + "\"layer_types\": [\"full_attention\", \"conv\", \"conv\", \"full_attention\"]}}}");
        assertThatThrownBy(() -> OnnxDecoderBackend.open(file, Options.empty(), null))
                .isInstanceOf(ArborException.class)
                .hasMessageContaining("layer_types")
                .hasMessageContaining("convolution state in layers [1, 2]")
                .hasMessageContaining("graph has convolution state (past_conv.N) in layers [0, 2]");
        Files.writeString(own.resolve("genai_config.json"), "{\"model\": {\"type\": \"lfm2\", \"decoder\": {"
                + "\"layer_types\": [\"conv\", \"full_attention\", \"conv\", \"full_attention\"], "
                + "\"conv_cache_size\": 3}}}");
        assertThatThrownBy(() -> OnnxDecoderBackend.open(file, Options.empty(), null))
                .isInstanceOf(ArborException.class)
                .hasMessageContaining("conv_cache_size 3")
                .hasMessageContaining("'past_conv.0' holds 4");
        Files.writeString(own.resolve("genai_config.json"), "{\"model\": {\"type\": \"lfm2\", \"decoder\": {"
                + "\"layer_types\": [\"conv\", \"full_attention\", \"conv\", \"full_attention\"], "
                + "\"conv_cache_size\": 4}}}");
        try (OnnxDecoderBackend ok = OnnxDecoderBackend.open(file, Options.empty(), null)) {
            assertThat(ok.signature().hasConvState()).isTrue();
        }
    }

    /** Greedy continuation of {@code prompt} by {@code steps} tokens, every step a stateless forward of it all. */
    static int[] recomputedGreedy(OnnxDecoderBackend b, int[] prompt, int steps) {
        int[] seq = Arrays.copyOf(prompt, prompt.length + steps);
        for (int t = prompt.length; t < seq.length; t++) {
            float[][] logits = stateless(b, Arrays.copyOf(seq, t));
            seq[t] = argmax(logits[t - 1]);
        }
        return seq;
    }

    private static float[][] stateless(OnnxDecoderBackend b, int[] seq) {
        return Gpt2Fixture.stateless(b, new int[][] {seq})[0];
    }

    /** Feeds {@code tokens} one at a time into a one-row state and returns each step's logits. */
    private static float[][] feed(OnnxDecoderBackend b, DecodeState state, int... tokens) {
        float[][] out = new float[tokens.length][];
        for (int i = 0; i < tokens.length; i++) {
            out[i] = b.forward(ForwardRequest.next(new int[][] {{tokens[i]}}, state)).last(0);
        }
        return out;
    }
}
