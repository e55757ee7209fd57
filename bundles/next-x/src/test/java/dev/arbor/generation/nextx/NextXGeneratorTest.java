package dev.arbor.generation.nextx;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.generation.Cancellation;
import dev.arbor.api.generation.FinishReason;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.model.AttentionSpec;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.ContinuousHead;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.StateWrite;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.api.tokenizer.Tokenizer;
import dev.arbor.testkit.RecordingSink;
import dev.arbor.testkit.TestSelectors;
import dev.arbor.testkit.ToyImageTokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.random.RandomGenerator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class NextXGeneratorTest {
    /** A 4 x 4 grid of latent tokens of 4 values: 64 wire ids; 3 classes; vocabulary 265 + 5 time ids. */
    static final ToyLatentCodec CODEC = new ToyLatentCodec(4, 4, 3);
    static final ImageLayout LAYOUT = CODEC.layout();
    static final int TIME = 5;
    static final ContinuousHead HEAD = new ContinuousHead(4, ContinuousHead.Kind.VELOCITY, 0,
            LAYOUT.featureBasisToken(0), LAYOUT.vocabSize(), TIME);
    static final int VOCAB = HEAD.maxId();

    private final NextXGenerator generator = new NextXGenerator();

    static ToyVelocityBackend toy(long seed, Capability... without) {
        return new ToyVelocityBackend(VOCAB, 6, 17, seed, HEAD, LogitAlignment.SAME, without);
    }

    static GenerationContext context(ModelBackend model, Tokenizer tokenizer, int cls, long seed,
                                     Map<String, ?> options, Cancellation cancellation) {
        return new GenerationContext(model, tokenizer, new int[] {LAYOUT.classToken(cls)}, 64,
                () -> new Sampler(List.of(), TestSelectors.ARGMAX), null, seed, Options.of(options), cancellation);
    }

    static GenerationContext context(ModelBackend model, int cls, long seed, Map<String, ?> options) {
        return context(model, CODEC, cls, seed, options, Cancellation.NEVER);
    }

    /**
     * An independent reference: xAR's loop without a KV cache, the toy's pure function on the whole sequence at every
     * evaluation ([class, clean earlier cells at t = 1, the noisy cell at t], the cluster mask from the grid
     * geometry), the null-class row alongside, velocities combined with xAR's ramp, Euler or Euler–Maruyama steps
     * written out here, the request's RNG drawn in the documented order (a cell's noise token by token, then the
     * SDE's noise after each evaluation), the latents put back in raster order and quantised.
     */
    static int[] reference(ToyVelocityBackend toy, int cls, long seed, int cellSide, int steps, double cfg,
                           boolean sde) {
        RandomGenerator rng = SamplingContext.seeded(new int[] {LAYOUT.classToken(cls)}, VOCAB, seed).random();
        ContinuousHead.Embedder embedder = HEAD.embedder(toy);
        int side = CODEC.gridSide();
        int per = (side + cellSide - 1) / cellSide;
        int count = per * per;
        // cell-order lists of raster indices, from the geometry
        List<List<Integer>> members = new ArrayList<>();
        for (int k = 0; k < count; k++) {
            members.add(new ArrayList<>());
        }
        for (int r = 0; r < side * side; r++) {
            members.get((r / side / cellSide) * per + (r % side) / cellSide).add(r);
        }
        List<float[]> condSeq = new ArrayList<>(List.of(toy.embedding(LAYOUT.classToken(cls))));
        List<float[]> uncondSeq = new ArrayList<>(List.of(toy.embedding(LAYOUT.nullClassToken())));
        List<Integer> cellOfSlot = new ArrayList<>(List.of(-1));
        float[][] raster = new float[side * side][];
        for (int k = 0; k < count; k++) {
            int size = members.get(k).size();
            float[][] x = new float[size][4];
            for (float[] v : x) {
                for (int j = 0; j < 4; j++) {
                    v[j] = (float) rng.nextGaussian();
                }
            }
            double w = k == count - 1 ? cfg : 1 + (cfg - 1) * k / (count - 1);
            for (int s = 0; s < steps; s++) {
                double t = s / (double) steps;
                float[][] vc = velocities(toy, embedder, condSeq, cellOfSlot, k, x, t);
                float[][] v = vc;
                if (cfg != 1.0) {
                    float[][] vu = velocities(toy, embedder, uncondSeq, cellOfSlot, k, x, t);
                    if (w != 1.0) {
                        v = new float[size][4];
                        for (int i = 0; i < size; i++) {
                            for (int j = 0; j < 4; j++) {
                                v[i][j] = (float) (vc[i][j] + (w - 1) * ((double) vc[i][j] - (double) vu[i][j]));
                            }
                        }
                    }
                }
                double dt = 1.0 / steps;
                boolean noisy = sde && s < steps - 1;
                double sd = noisy ? Math.sqrt(2 * (1 - t) * dt) : 0;
                for (int i = 0; i < size; i++) {
                    for (int j = 0; j < 4; j++) {
                        double xi = x[i][j];
                        double drift = noisy ? (1 + t) * v[i][j] - xi : v[i][j];
                        x[i][j] = (float) (xi + drift * dt + (noisy ? sd * rng.nextGaussian() : 0));
                    }
                }
            }
            for (int i = 0; i < size; i++) {
                raster[members.get(k).get(i)] = x[i];
                float[] e = new float[embedder.width()];
                embedder.add(x[i], 1.0, e);
                condSeq.add(e);
                uncondSeq.add(e);
                cellOfSlot.add(k);
            }
        }
        return CODEC.toIds(raster);
    }

    private static float[][] velocities(ToyVelocityBackend toy, ContinuousHead.Embedder embedder,
                                        List<float[]> context, List<Integer> cellOfSlot, int k, float[][] x,
                                        double t) {
        int held = context.size();
        float[][] inputs = new float[held + x.length][];
        for (int p = 0; p < held; p++) {
            inputs[p] = context.get(p);
        }
        for (int i = 0; i < x.length; i++) {
            inputs[held + i] = new float[embedder.width()];
            embedder.add(x[i], t, inputs[held + i]);
        }
        float[][] v = new float[x.length][];
        for (int i = 0; i < x.length; i++) {
            boolean[] visible = new boolean[inputs.length];
            for (int p = 0; p < inputs.length; p++) {
                visible[p] = p >= held || cellOfSlot.get(p) < k; // class (-1), earlier cells, the whole own cell
            }
            v[i] = Arrays.copyOf(toy.logits(inputs, held + i, visible), 4);
        }
        return v;
    }

    @ParameterizedTest
    @CsvSource({"2,3,2.5,euler", "2,3,2.5,euler_maruyama", "3,2,1.0,euler", "4,4,3.0,euler_maruyama",
            "1,1,2.0,euler"})
    void cachedLoopEqualsTheStatelessReference(int cellSide, int steps, double cfg, String sampler) {
        ToyVelocityBackend model = toy(11);
        RecordingSink sink = new RecordingSink();
        GenerationResult r = generator.generate(context(model, 1, 77, Map.of("cell_side", cellSide,
                "num_steps", steps, "guidance_scale", cfg, "sampler", sampler)), sink);
        int[] expected = reference(toy(11), 1, 77, cellSide, steps, cfg, sampler.equals("euler_maruyama"));
        assertThat(r.tokens()).containsExactly(expected);
        assertThat(sink.tokens()).containsExactly(expected);
        assertThat(r.finishReason()).isEqualTo(FinishReason.STOP);
        assertThat(model.openStates()).isZero();
    }

    @Test
    void forwardsAreClassTokenEvaluationsAndAppends() {
        ToyVelocityBackend model = toy(3);
        GenerationResult r = generator.generate(context(model, 0, 5, Map.of("cell_side", 2, "num_steps", 5)),
                new RecordingSink());
        int cells = 4;
        assertThat(r.forwardPasses()).isEqualTo(1 + cells * 5 + (cells - 1));
        assertThat(r.stats()).containsEntry("forwards", 1 + cells * 5 + (cells - 1))
                .containsEntry("velocity_evaluations", cells * 5).containsEntry("cfg.mode", "batch")
                .containsEntry("cells", 4).containsEntry("cell_sizes", List.of(4, 4, 4, 4));
        List<ToyVelocityBackend.Call> calls = model.calls();
        assertThat(calls.get(0).embeddings()).isFalse();
        assertThat(calls.get(0).write()).isEqualTo(StateWrite.APPEND);
        int evaluations = 0;
        int appends = 0;
        for (ToyVelocityBackend.Call c : calls.subList(1, calls.size())) {
            assertThat(c.embeddings()).isTrue();
            assertThat(c.batch()).isEqualTo(2);
            assertThat(c.queries()).isEqualTo(4);
            assertThat(c.attention()).isInstanceOf(AttentionSpec.Segments.class);
            if (c.write() instanceof StateWrite.None) {
                evaluations++;
                assertThat(c.stateBefore()).isEqualTo(1 + 4 * appends); // the state never grows on an evaluation
            } else {
                appends++;
            }
        }
        assertThat(evaluations).isEqualTo(20);
        assertThat(appends).isEqualTo(3);
        // no guidance: one row; a backend without BATCH: two states, twice the forwards
        GenerationResult plain = generator.generate(context(toy(3), 0, 5, Map.of("cell_side", 2, "num_steps", 5,
                "guidance_scale", 1.0)), new RecordingSink());
        assertThat(plain.stats()).containsEntry("cfg.mode", "none").containsEntry("forwards", 24);
        ToyVelocityBackend noBatch = toy(3, Capability.BATCH);
        GenerationResult two = generator.generate(context(noBatch, 0, 5, Map.of("cell_side", 2, "num_steps", 5)),
                new RecordingSink());
        assertThat(two.stats()).containsEntry("cfg.mode", "two_states").containsEntry("forwards", 48);
        assertThat(two.tokens()).containsExactly(r.tokens());
    }

    @Test
    void guidanceRampsOverCellsAsXar() {
        GenerationResult r = generator.generate(context(toy(3), 2, 9, Map.of("cell_side", 2, "num_steps", 2,
                "guidance_scale", 2.5)), new RecordingSink());
        // 1 + (cfg − 1)·k/(K − 1), K = 4
        assertThat(r.stats().get("cfg.parameters")).isEqualTo(List.of(1.0, 1.5, 2.0, 2.5));
        GenerationResult three = generator.generate(context(toy(3), 2, 9, Map.of("cell_side", 3, "num_steps", 2,
                "guidance_scale", 3.0)), new RecordingSink());
        assertThat(three.stats().get("cfg.parameters")).isEqualTo(List.of(1.0, 1 + 2.0 * 1 / 3, 1 + 2.0 * 2 / 3, 3.0));
        GenerationResult constant = generator.generate(context(toy(3), 2, 9, Map.of("cell_side", 2, "num_steps", 2,
                "guidance_scale", 2.0, "cfg_ramp", "constant")), new RecordingSink());
        assertThat(constant.stats().get("cfg.parameters")).isEqualTo(List.of(2.0, 2.0, 2.0, 2.0));
    }

    @Test
    void streamsACanvasPerCellAndEmitsRasterWireIds() {
        RecordingSink sink = new RecordingSink();
        GenerationResult r = generator.generate(context(toy(5), 1, 3, Map.of("cell_side", 2, "num_steps", 2)),
                sink);
        assertThat(r.tokens()).hasSize(64);
        assertThat(Arrays.stream(r.tokens()).allMatch(id -> id >= 0 && id < 256)).isTrue();
        List<RecordingSink.CanvasEvent> canvases = sink.canvases();
        assertThat(canvases).hasSize(4);
        int mask = LAYOUT.nullClassToken();
        for (int k = 0; k < 4; k++) {
            int[] c = canvases.get(k).tokens();
            assertThat(canvases.get(k).step()).isEqualTo(k + 1);
            assertThat(canvases.get(k).maskTokenId()).isEqualTo(mask);
            for (int p = 0; p < 16; p++) {
                int cell = (p / 4 / 2) * 2 + (p % 4) / 2;
                for (int j = 0; j < 4; j++) {
                    assertThat(c[p * 4 + j]).isEqualTo(cell <= k ? r.tokens()[p * 4 + j] : mask);
                }
            }
        }
        assertThat(CODEC.decodeImage(r.tokens())).hasDimensions(4, 4);
    }

    @Test
    void sameSeedSameImageOtherSeedOtherImage() {
        Map<String, Object> o = Map.of("cell_side", 2, "num_steps", 3, "sampler", "euler_maruyama");
        int[] a = generator.generate(context(toy(5), 1, 3, o), new RecordingSink()).tokens();
        int[] b = generator.generate(context(toy(5), 1, 3, o), new RecordingSink()).tokens();
        int[] c = generator.generate(context(toy(5), 1, 4, o), new RecordingSink()).tokens();
        assertThat(a).containsExactly(b);
        assertThat(a).isNotEqualTo(c);
    }

    @Test
    void cancellationEndsTheImageWithoutTokensAndClosesTheStates() {
        ToyVelocityBackend model = toy(5);
        Cancellation cancel = () -> model.calls().size() >= 6;
        GenerationResult r = generator.generate(context(model, CODEC, 1, 3, Map.of("cell_side", 2, "num_steps", 4),
                cancel), new RecordingSink());
        assertThat(r.finishReason()).isEqualTo(FinishReason.CANCELLED);
        assertThat(r.tokens()).isEmpty();
        assertThat(model.calls()).hasSize(6);
        assertThat(model.openStates()).isZero();
    }

    @Test
    void refusesOptionsAUserCanFix() {
        ToyVelocityBackend model = toy(1);
        for (Map<String, ?> bad : List.of(Map.of("num_steps", 0), Map.of("num_steps", "many"),
                Map.of("num_steps", 100_000), Map.of("sampler", "rk4"), Map.of("cell_side", 0),
                Map.of("cell_side", 5), Map.of("guidance_scale", -1), Map.of("cfg_convention", "var"),
                Map.of("cfg_ramp", "square"))) {
            assertThatThrownBy(() -> generator.generate(context(model, 0, 1, bad), new RecordingSink()))
                    .as("%s", bad).isInstanceOf(ArborException.class)
                    .satisfies(e -> assertThat(((ArborException) e).kind()).isEqualTo(ArborException.Kind.INVALID_INPUT))
                    .hasMessageContaining(bad.keySet().iterator().next().replace("num_steps", "num_steps"));
        }
        assertThat(model.calls()).isEmpty();
    }

    @Test
    void refusesPriorsAndTokenizersThatDoNotFit() {
        assertThatThrownBy(() -> generator.generate(context(new ToyVelocityBackend(VOCAB, 6, 17, 1, null,
                LogitAlignment.SAME), 0, 1, Map.of()), new RecordingSink()))
                .isInstanceOf(ArborException.class).hasMessageContaining("continuous_head")
                .hasMessageContaining("latent-flow-cells");
        ContinuousHead gaussian = new ContinuousHead(4, ContinuousHead.Kind.GAUSSIAN, 0, LAYOUT.featureBasisToken(0),
                -1, 0);
        assertThatThrownBy(() -> generator.generate(context(new ToyVelocityBackend(VOCAB, 6, 17, 1, gaussian,
                LogitAlignment.SAME), 0, 1, Map.of()), new RecordingSink()))
                .isInstanceOf(ArborException.class).hasMessageContaining("VELOCITY")
                .hasMessageContaining("continuous-speculative");
        ContinuousHead wide = new ContinuousHead(3, ContinuousHead.Kind.VELOCITY, 0, LAYOUT.featureBasisToken(0),
                LAYOUT.vocabSize(), TIME);
        assertThatThrownBy(() -> generator.generate(context(new ToyVelocityBackend(VOCAB, 6, 17, 1, wide,
                LogitAlignment.SAME), 0, 1, Map.of()), new RecordingSink()))
                .isInstanceOf(ArborException.class).hasMessageContaining("latentDim 4");
        assertThatThrownBy(() -> generator.generate(context(new ToyVelocityBackend(VOCAB, 6, 17, 1, HEAD,
                LogitAlignment.NEXT), 0, 1, Map.of()), new RecordingSink()))
                .isInstanceOf(ArborException.class).hasMessageContaining("alignment SAME");
        assertThatThrownBy(() -> generator.generate(context(toy(1, Capability.INPUT_EMBEDS), 0, 1, Map.of()),
                new RecordingSink())).isInstanceOf(ArborException.class).hasMessageContaining("INPUT_EMBEDS");
        assertThatThrownBy(() -> generator.generate(context(toy(1, Capability.SEGMENT_MASK), 0, 1, Map.of()),
                new RecordingSink())).isInstanceOf(ArborException.class).hasMessageContaining("SEGMENT_MASK");
        ImageLayout vqLayout = ToyImageTokenizer.layout(4, 256, 3, 4, 8);
        assertThatThrownBy(() -> generator.generate(context(toy(1), new ToyImageTokenizer(vqLayout, 1), 0, 1,
                Map.of(), Cancellation.NEVER), new RecordingSink())).isInstanceOf(ArborException.class)
                .hasMessageContaining("image-latent");
        // a context too short for the image is refused before any forward
        ToyVelocityBackend shortContext = new ToyVelocityBackend(VOCAB, 6, 16, 1, HEAD, LogitAlignment.SAME);
        assertThatThrownBy(() -> generator.generate(context(shortContext, 0, 1, Map.of()), new RecordingSink()))
                .isInstanceOf(ArborException.class).hasMessageContaining("16 positions");
        assertThat(shortContext.calls()).isEmpty();
    }
}
