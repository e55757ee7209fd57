package dev.arbor.generation.stree;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.Options;
import dev.arbor.api.generation.Cancellation;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.ModelResolver;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelSpec;
import dev.arbor.api.model.StateWrite;
import dev.arbor.api.pipeline.ModelRef;
import dev.arbor.backend.onnxruntime.OnnxRuntimeBackendProvider;
import dev.arbor.sampling.SamplingMath;
import dev.arbor.testkit.SharedModels;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * STree on the real thing (METHODS.md §3.11 honest tests 1 and 2): stories260K converted to ONNX (attention-bias
 * input, so Explicit masks and compact work) on ONNX Runtime, on the flat test classpath (the backend turns
 * telemetry off), with a layer-skip self-draft ({@code keep_layers}).
 */
class Stories260kTreeTest {
    private static final double TOL = 1e-4;
    private static final int[][] PROMPTS = {{1}, {1, 403, 407, 261}, {1, 365, 301, 261, 497, 400, 378, 263}};
    @TempDir
    static Path cache;
    private static Path checkpoint;
    private static OnnxRuntimeBackendProvider provider;
    private static ModelBackend target;
    private static final List<ModelBackend> drafts = new ArrayList<>();

    @BeforeAll
    static void open() {
        checkpoint = SharedModels.require("stories260K/stories260K.bin");
        provider = new OnnxRuntimeBackendProvider();
        target = provider.open(new ModelSpec(checkpoint, "llama2c", Options.of(Map.of("cache_dir",
                cache.toString()))));
    }

    @AfterAll
    static void close() {
        drafts.forEach(ModelBackend::close);
        if (target != null) {
            target.close();
        }
    }

    /** Opens drafts through the provider as the platform's resolver would. */
    private static final ModelResolver RESOLVER = new ModelResolver() {
        @Override
        public ModelRef target() {
            return new ModelRef("onnxruntime", "llama2c", checkpoint.toString(),
                    Options.of(Map.of("cache_dir", cache.toString())));
        }

        @Override
        public ModelBackend open(ModelRef ref) {
            ModelBackend m = provider.open(new ModelSpec(Path.of(ref.path()), ref.format(), ref.options()));
            drafts.add(m);
            return m;
        }
    };

    private static int[] plainGreedy(int[] prompt, int n) {
        int[] out = new int[n];
        try (DecodeState state = target.newState(1)) {
            float[] logits = target.forward(ForwardRequest.builder(new int[][] {prompt}).state(state)
                    .lastRowOnly().build()).last(0);
            for (int i = 0; i < n; i++) {
                out[i] = SamplingMath.argmax(logits);
                if (i + 1 < n) {
                    logits = target.forward(ForwardRequest.next(new int[][] {{out[i]}}, state)).last(0);
                }
            }
        }
        return out;
    }

    @Test
    void greedyTreeDecodingEqualsPlainGreedyTokenForToken() {
        SpeculativeTreeGenerator generator = new SpeculativeTreeGenerator();
        for (int[] prompt : PROMPTS) {
            for (int n : new int[] {64, 200}) {
                int[] expected = plainGreedy(prompt, n);
                for (int layers : prompt.length == 1 ? new int[] {2, 3} : new int[] {2}) {
                    GenerationResult r = generator.generate(new GenerationContext(target, null, prompt, n,
                            TestSupport.greedy(), null, 0, Options.of(Map.of("draft_layers", layers)),
                            Cancellation.NEVER, RESOLVER), TokenSink.DISCARD);
                    assertThat(r.tokens()).as("prompt %s, %d tokens, keep_layers %d", Arrays.toString(prompt), n,
                            layers).containsExactly(expected);
                    double perStep = (Double) r.stats().get("speculative.tokens_per_step");
                    System.out.printf("STree greedy stories260K keep_layers=%d prompt=%s n=%d: steps=%s, "
                            + "acceptance=%.3f, tokens/step=%.2f%n", layers, Arrays.toString(prompt), n,
                            r.stats().get("speculative.steps"), r.stats().get("speculative.acceptance_rate"),
                            perStep);
                    // The self-draft agrees with the target often enough to commit more than one token per step.
                    assertThat(perStep).isGreaterThan(1.0);
                }
            }
        }
    }

    @Test
    void oneTreeForwardEqualsEveryRootToLeafPathRunSeparately() {
        int[] prompt = {1, 403, 407, 261};
        TokenTree tree = new TokenTree(prompt[prompt.length - 1]);
        int a = tree.add(0, 378);
        int b = tree.add(0, 263);
        int c = tree.add(0, 285);
        int aa = tree.add(a, 301);
        int ab = tree.add(a, 400);
        int ba = tree.add(b, 365);
        int aaa = tree.add(aa, 290);
        int aba = tree.add(ab, 290);
        tree.add(ba, 261);
        assertThat(tree.leaves()).hasSize(4).contains(c, aaa, aba);
        int[] allNodes = java.util.stream.IntStream.range(0, tree.size()).toArray();
        // Two ways to hold the prefix: already in the state (later steps), or pending in the same forward (first).
        for (boolean prefilled : new boolean[] {true, false}) {
            try (DecodeState state = target.newState(1)) {
                int[] pending = Arrays.copyOf(prompt, prompt.length - 1);
                if (prefilled) {
                    target.forward(ForwardRequest.builder(new int[][] {pending}).state(state).lastRowOnly().build());
                    pending = new int[0];
                }
                int stateLength = state.length();
                int[] rows = new int[tree.size()];
                for (int i = 0; i < rows.length; i++) {
                    rows[i] = pending.length + i;
                }
                float[][] logits = target.forward(ForwardRequest.builder(new int[][] {tree.flatTokens(pending)})
                        .positions(tree.positions(stateLength, pending.length))
                        .attention(tree.attention(stateLength, pending.length)).state(state).write(StateWrite.APPEND)
                        .logitRows(new int[][] {rows}).build()).logits()[0];
                for (int node : allNodes) {
                    int[] path = tree.pathTokens(node);
                    int[] seq = Arrays.copyOf(prompt, prompt.length + path.length);
                    System.arraycopy(path, 0, seq, prompt.length, path.length);
                    float[] reference = target.forward(ForwardRequest.builder(new int[][] {seq}).lastRowOnly()
                            .build()).last(0);
                    assertClose(logits[node], reference, "node " + node + " path " + Arrays.toString(path)
                            + (prefilled ? "" : " (prefix pending)"));
                }
                // Keep the path root -> a -> ab -> aba and continue: equals the causal run of that sequence.
                state.compact(tree.keepSlots(stateLength, pending.length, new int[] {a, ab, aba}));
                float[] next = target.forward(ForwardRequest.next(new int[][] {{312}}, state)).last(0);
                int[] seq = {1, 403, 407, 261, 378, 400, 290, 312};
                assertClose(next, target.forward(ForwardRequest.builder(new int[][] {seq}).lastRowOnly().build())
                        .last(0), "after compact");
            }
        }
    }

    private static void assertClose(float[] actual, float[] expected, String what) {
        assertThat(actual).hasSameSizeAs(expected);
        double worst = 0;
        for (int i = 0; i < actual.length; i++) {
            worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
        }
        assertThat(worst).as("%s: largest logit difference", what).isLessThanOrEqualTo(TOL);
    }
}
