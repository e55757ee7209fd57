package dev.arbor.generation.nextdetail;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.generation.Cancellation;
import dev.arbor.api.generation.FinishReason;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.model.NativeAttention;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.blockgen.GroupLayout;
import dev.arbor.guidance.CfgConvention;
import dev.arbor.guidance.CfgRamp;
import dev.arbor.guidance.Guidance;
import dev.arbor.models.llama2c.Llama2cCheckpoint;
import dev.arbor.models.llama2c.Llama2cConfig;
import dev.arbor.models.llama2c.Llama2cReferenceModel;
import dev.arbor.testkit.CardOverrideBackend;
import dev.arbor.testkit.RecordingSink;
import dev.arbor.testkit.TestSelectors;
import dev.arbor.testkit.ToyImageTokenizer;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The next-detail generator on a tiny random llama2.c transformer (the reference model, which computes any Segments
 * mask) presented as a DetailFlow prior over a 1D sequence of N = 16 tokens (one "scale" of side 4, like the forge's
 * fashion-detail-vq), with a counting backend: forwards, the group-size-1 equivalence, gradual CFG, refusals.
 */
class NextDetailGeneratorTest {
    static final ImageLayout LAYOUT = ToyImageTokenizer.layout(28, 64, 10, 8, 4);
    static final ToyImageTokenizer TOKENIZER = new ToyImageTokenizer(LAYOUT, 1);

    /** A tiny transformer over the layout's ids and {@code g - 1} query ids, carded BLOCK_CAUSAL g (CAUSAL for 1). */
    static CardOverrideBackend prior(int g, long seed) {
        Llama2cConfig config = new Llama2cConfig(16, 32, 2, 2, 2, LAYOUT.vocabSize() + g - 1, 16, true);
        Llama2cReferenceModel model = new Llama2cReferenceModel(Llama2cCheckpoint.random(config, seed),
                "tiny-detail-prior");
        ModelCard c = model.card();
        Set<Capability> caps = EnumSet.copyOf(c.capabilities());
        return new CardOverrideBackend(model, new ModelCard(c.name(), c.vocabSize(), c.maxPositions(),
                c.hiddenSize(), c.bosTokenId(), c.eosTokenIds(), c.padTokenId(), c.maskTokenId(), LogitAlignment.NEXT,
                g == 1 ? NativeAttention.CAUSAL : NativeAttention.BLOCK_CAUSAL, g == 1 ? 0 : g, caps));
    }

    static GenerationContext context(ModelBackend model, int cls, long seed, Map<String, ?> options,
                                     Cancellation cancellation) {
        return new GenerationContext(model, TOKENIZER, new int[] {LAYOUT.classToken(cls)}, 16,
                () -> new Sampler(List.of(), TestSelectors.INVERSE_CDF), null, seed, Options.of(options),
                cancellation);
    }

    @Test
    void aDecodeIsOnePlusCausalNumMinusOnePlusOneForwardPerGroup() {
        // {G, c}: 1 + (c − 1) + (N − c)/G forwards (DetailFlow's 128 tokens, G = 8: 23); unguided, so one per step
        int[][] cases = {{4, 4}, {2, 2}, {8, 8}, {4, 8}, {3, 1}, {1, 1}};
        for (int[] gc : cases) {
            int g = gc[0];
            int c = gc[1];
            try (CardOverrideBackend model = prior(g, 5)) {
                RecordingSink sink = new RecordingSink();
                GenerationResult r = new NextDetailGenerator().generate(context(model, 2, 9, Map.of(
                        "guidance_scale", 1.0, "group_size", g, "causal_num", c), Cancellation.NEVER), sink);
                int expected = 1 + (c - 1) + (16 - c) / g;
                assertThat(model.forwardCalls()).as("G %d, c %d", g, c).isEqualTo(expected);
                assertThat(r.forwardPasses()).isEqualTo(expected);
                assertThat(r.tokens()).hasSize(16);
                assertThat(java.util.Arrays.stream(r.tokens()).allMatch(t -> t >= 0 && t < 64)).isTrue();
                assertThat(r.finishReason()).isEqualTo(FinishReason.STOP);
                assertThat(r.stats()).containsEntry("group.size", g).containsEntry("group.causal_num", c)
                        .containsEntry("cfg.gradual", false);
            }
        }
        // guided on a backend with BATCH: the conditional and unconditional rows share each forward
        try (CardOverrideBackend model = prior(4, 5)) {
            GenerationResult r = new NextDetailGenerator().generate(context(model, 2, 9, Map.of("guidance_scale",
                    2.0), Cancellation.NEVER), new RecordingSink());
            assertThat(model.forwardCalls()).isEqualTo(7);
            assertThat(r.stats()).containsEntry("cfg.mode", "batch");
        }
    }

    @Test
    void theDefaultsAreTheCardsGroupSizeAndCausalNumEqualToIt() {
        try (CardOverrideBackend model = prior(4, 5)) {
            RecordingSink sink = new RecordingSink();
            GenerationResult r = new NextDetailGenerator().generate(context(model, 1, 3, Map.of(),
                    Cancellation.NEVER), sink);
            assertThat(r.stats()).containsEntry("group.size", 4).containsEntry("group.causal_num", 4)
                    .containsEntry("cfg.scale", NextDetailGenerator.DEFAULT_GUIDANCE_SCALE);
            assertThat(r.forwardPasses()).isEqualTo(7);
            // a coarse image after the causal start and after each of the 3 groups
            assertThat(sink.canvases()).hasSize(4);
        }
    }

    @Test
    void groupSizeOneOnACausalPriorIsTheRasterGeneratorsImage() {
        try (CardOverrideBackend model = prior(1, 21)) {
            for (int cls = 0; cls < 10; cls += 3) {
                GenerationResult raster = new dev.arbor.generation.raster.RasterArGenerator().generate(
                        context(model, cls, 40 + cls, Map.of("guidance_scale", 2.0), Cancellation.NEVER),
                        new RecordingSink());
                GenerationResult detail = new NextDetailGenerator().generate(context(model, cls, 40 + cls,
                        Map.of("guidance_scale", 2.0, "group_size", 1, "causal_num", 1), Cancellation.NEVER),
                        new RecordingSink());
                assertThat(detail.tokens()).as("class %d", cls).containsExactly(raster.tokens());
                assertThat(detail.logProbs()).containsExactly(raster.logProbs());
                assertThat(detail.forwardPasses()).isEqualTo(raster.forwardPasses()).isEqualTo(16);
            }
        }
    }

    @Test
    void gradualCfgFadesTheWeightByGroupAsDetailFlowDoes() {
        GroupLayout groups = GroupLayout.of(LAYOUT, 4, 4);
        GradualCfg cfg = GradualCfg.of(new Guidance(CfgConvention.LLAMAGEN, 2.0, CfgRamp.CONSTANT), groups);
        // steps 0..3: the causal start at full weight; steps 4, 5, 6 sample groups g = 1, 2, 3 of N/G = 4
        double[] expected = {2.0, 2.0, 2.0, 2.0, 2.0 * 4 / 5, 2.0 * 3 / 5, 2.0 * 2 / 5};
        for (int s = 0; s < expected.length; s++) {
            assertThat(cfg.weightAt(s)).as("step %d", s).isEqualTo(expected[s]);
            assertThat(cfg.parameterAt(s, 7)).isEqualTo(expected[s]);
        }
        // in VAR's convention (weight 1 + t) the weight fades the same way, reported as t
        GradualCfg var = GradualCfg.of(new Guidance(CfgConvention.VAR, 1.0, CfgRamp.CONSTANT), groups);
        assertThat(var.weightAt(6)).isEqualTo(2.0 * 2 / 5);
        assertThat(var.parameterAt(6, 7)).isEqualTo(2.0 * 2 / 5 - 1);
        // combine is uncond + w·(cond − uncond) with the step's weight
        float[] cond = {1f, 3f};
        float[] uncond = {0f, 1f};
        assertThat(cfg.combine(cond, uncond, 6, 7, "m")).containsExactly((float) (0.8 * 1), (float) (1 + 0.8 * 2));
        assertThat(cfg.combine(cond, uncond, 0, 7, "m")).containsExactly(2f, 5f);
        // the generator's run with gradual_cfg differs from the constant one and reports it
        try (CardOverrideBackend model = prior(4, 5)) {
            GenerationResult gradual = new NextDetailGenerator().generate(context(model, 2, 9, Map.of(
                    "guidance_scale", 3.0, "gradual_cfg", true), Cancellation.NEVER), new RecordingSink());
            GenerationResult constant = new NextDetailGenerator().generate(context(model, 2, 9, Map.of(
                    "guidance_scale", 3.0), Cancellation.NEVER), new RecordingSink());
            assertThat(gradual.stats()).containsEntry("cfg.gradual", true).containsEntry("cfg.guided_steps", 7);
            assertThat(gradual.logProbs()).isNotEqualTo(constant.logProbs());
            assertThat(gradual.tokens()).hasSize(16);
        }
        // guidance_scale 1 stays inert with gradual_cfg: no unconditional row at all
        try (CardOverrideBackend model = prior(4, 5)) {
            GenerationResult r = new NextDetailGenerator().generate(context(model, 2, 9, Map.of(
                    "guidance_scale", 1.0, "gradual_cfg", true), Cancellation.NEVER), new RecordingSink());
            assertThat(r.stats()).containsEntry("cfg.mode", "none").containsEntry("cfg.guided_steps", 0);
        }
    }

    @Test
    void cancellationStopsBetweenForwards() {
        try (CardOverrideBackend model = prior(4, 5)) {
            // cancelled once the causal start (4 forwards) is done: the group forwards never run
            Cancellation cancel = () -> model.forwardCalls() >= 4;
            GenerationResult r = new NextDetailGenerator().generate(context(model, 2, 9, Map.of("guidance_scale",
                    1.0), cancel), new RecordingSink());
            assertThat(r.finishReason()).isEqualTo(FinishReason.CANCELLED);
            assertThat(model.forwardCalls()).isEqualTo(4);
            assertThat(r.tokens()).hasSize(4);
        }
    }

    @Test
    void hostileOptionsAreRefusedNamingTheOptionAndTheFix() {
        try (CardOverrideBackend model = prior(4, 5)) {
            NextDetailGenerator gen = new NextDetailGenerator();
            assertThatThrownBy(() -> gen.generate(context(model, 0, 1, Map.of("group_size", 0), Cancellation.NEVER),
                    new RecordingSink())).isInstanceOf(ArborException.class).hasMessageContaining("group_size");
            assertThatThrownBy(() -> gen.generate(context(model, 0, 1, Map.of("group_size", 17), Cancellation.NEVER),
                    new RecordingSink())).isInstanceOf(ArborException.class).hasMessageContaining("group_size");
            assertThatThrownBy(() -> gen.generate(context(model, 0, 1, Map.of("group_size", "four"),
                    Cancellation.NEVER), new RecordingSink())).isInstanceOf(ArborException.class)
                    .hasMessageContaining("group_size");
            assertThatThrownBy(() -> gen.generate(context(model, 0, 1, Map.of("causal_num", 3), Cancellation.NEVER),
                    new RecordingSink())).isInstanceOf(ArborException.class)
                    .hasMessageContaining("causal_num").hasMessageContaining("multiple of 4");
            try (CardOverrideBackend threes = prior(3, 5)) {
                // 16 = 1 + 5 groups of 3: a valid layout, but DetailFlow's group index needs c a multiple of G
                assertThatThrownBy(() -> gen.generate(context(threes, 0, 1, Map.of("group_size", 3, "causal_num", 1,
                        "gradual_cfg", true, "guidance_scale", 2.0), Cancellation.NEVER), new RecordingSink()))
                        .isInstanceOf(ArborException.class).hasMessageContaining("gradual_cfg")
                        .hasMessageContaining("multiples of group_size 3");
                assertThat(threes.forwardCalls()).isZero();
            }
            assertThatThrownBy(() -> gen.generate(context(model, 0, 1, Map.of("gradual_cfg", true,
                    "cfg_ramp", "linear"), Cancellation.NEVER), new RecordingSink()))
                    .isInstanceOf(ArborException.class).hasMessageContaining("cfg_ramp");
            assertThatThrownBy(() -> gen.generate(context(model, 0, 1, Map.of("gradual_cfg", "sometimes"),
                    Cancellation.NEVER), new RecordingSink())).isInstanceOf(ArborException.class)
                    .hasMessageContaining("gradual_cfg");
            assertThatThrownBy(() -> gen.generate(context(model, 0, 1, Map.of("guidance_scale", -1),
                    Cancellation.NEVER), new RecordingSink())).isInstanceOf(ArborException.class)
                    .hasMessageContaining("guidance_scale");
            // a group size the prior was not trained with (it has no query tokens for it)
            assertThatThrownBy(() -> gen.generate(context(model, 0, 1, Map.of("group_size", 8), Cancellation.NEVER),
                    new RecordingSink())).isInstanceOf(ArborException.class)
                    .hasMessageContaining("set group_size 4");
            try (CardOverrideBackend causal = prior(1, 5)) {
                assertThatThrownBy(() -> gen.generate(context(causal, 0, 1, Map.of("group_size", 4),
                        Cancellation.NEVER), new RecordingSink())).isInstanceOf(ArborException.class)
                        .hasMessageContaining("set group_size 1");
            }
            assertThat(model.forwardCalls()).isZero();
        }
    }
}
