package dev.arbor.generation.nextblock;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.generation.Cancellation;
import dev.arbor.api.generation.FinishReason;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.model.NativeAttention;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.blockgen.GroupLayout;
import dev.arbor.blockgen.GroupParallelDecoder;
import dev.arbor.blockgen.StepGuidance;
import dev.arbor.guidance.CfgConvention;
import dev.arbor.guidance.CfgRamp;
import dev.arbor.guidance.Guidance;
import dev.arbor.imagegen.ImageRequest;
import dev.arbor.models.llama2c.Llama2cCheckpoint;
import dev.arbor.models.llama2c.Llama2cConfig;
import dev.arbor.models.llama2c.Llama2cReferenceModel;
import dev.arbor.testkit.CardOverrideBackend;
import dev.arbor.testkit.RecordingSink;
import dev.arbor.testkit.TestSelectors;
import dev.arbor.testkit.ToyImageTokenizer;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * The next-block generator and the shared group-parallel loop on a tiny random llama2.c transformer (the reference
 * model, which computes any Segments mask) presented as a group prior: 7x7 codes, block_size 7, causal_num 7.
 */
class NextBlockGeneratorTest {
    static final ImageLayout LAYOUT = ToyImageTokenizer.layout(28, 512, 10, 16, 7);
    static final ToyImageTokenizer TOKENIZER = new ToyImageTokenizer(LAYOUT, 1);

    /** A tiny transformer over the layout's ids and {@code g - 1} query ids, carded BLOCK_CAUSAL g (CAUSAL for 1). */
    static CardOverrideBackend prior(int g, long seed, Capability... without) {
        Llama2cConfig config = new Llama2cConfig(16, 32, 2, 2, 2, LAYOUT.vocabSize() + g - 1, 49, true);
        Llama2cReferenceModel model = new Llama2cReferenceModel(Llama2cCheckpoint.random(config, seed),
                "tiny-group-prior");
        ModelCard c = model.card();
        Set<Capability> caps = EnumSet.copyOf(c.capabilities());
        caps.removeAll(List.of(without));
        return new CardOverrideBackend(model, new ModelCard(c.name(), c.vocabSize(), c.maxPositions(),
                c.hiddenSize(), c.bosTokenId(), c.eosTokenIds(), c.padTokenId(), c.maskTokenId(), LogitAlignment.NEXT,
                g == 1 ? NativeAttention.CAUSAL : NativeAttention.BLOCK_CAUSAL, g == 1 ? 0 : g, caps));
    }

    static GenerationContext context(ModelBackend model, int cls, long seed, Map<String, ?> options,
                                     Cancellation cancellation) {
        return new GenerationContext(model, TOKENIZER, new int[] {LAYOUT.classToken(cls)}, 49,
                () -> new Sampler(List.of(), TestSelectors.INVERSE_CDF), null, seed, Options.of(options),
                cancellation);
    }

    @Test
    void groupStepsAppendedToTheStateGiveTheLogitsOfOneTeacherForcedForward() {
        try (CardOverrideBackend model = prior(7, 11)) {
            GroupLayout groups = GroupLayout.of(LAYOUT, 7, 7);
            GenerationContext context = context(model, 4, 3, Map.of("guidance_scale", 1.0), Cancellation.NEVER);
            float[][] seen = new float[49][];
            Sampler sampler = new Sampler(List.of(), TestSelectors.INVERSE_CDF);
            RecordingSink sink = new RecordingSink();
            GenerationResult r = GroupParallelDecoder.decode(context, sink, ImageRequest.open(context, "test"), groups,
                    StepGuidance.of(new Guidance(CfgConvention.LLAMAGEN, 1.0, CfgRamp.CONSTANT)),
                    (logits, index, step, history) -> {
                        seen[index] = logits.clone();
                        return sampler.sample(logits, history);
                    }, new LinkedHashMap<>());
            assertThat(r.tokens()).hasSize(49);
            assertThat(r.finishReason()).isEqualTo(FinishReason.STOP);
            assertThat(r.forwardPasses()).isEqualTo(13);
            assertThat(model.forwardCalls()).isEqualTo(13);
            assertThat(r.stats()).containsEntry("group.steps", 13).containsEntry("cfg.mode", "none");
            // the canvas after the causal row and after each of the six groups
            assertThat(sink.canvases()).hasSize(7);

            int[] inputs = groups.inputs(0, 49, LAYOUT.classToken(4), r.tokens());
            int[][] seg = {groups.segments()};
            float[][] full = model.forward(ForwardRequest.builder(new int[][] {inputs})
                    .attention(new dev.arbor.api.model.AttentionSpec.Segments(seg, seg)).build()).logits()[0];
            for (int p = 0; p < 49; p++) {
                for (int v = 0; v < LAYOUT.codes(); v++) {
                    assertThat(seen[p][v]).as("row %d, id %d", p, v)
                            .isCloseTo(full[groups.target(p)][v], org.assertj.core.data.Offset.offset(1e-4f));
                }
            }
        }
    }

    @Test
    void guidanceRowsRunAsOneBatchOrTwoStatesWithTheSameImage() {
        try (CardOverrideBackend batch = prior(7, 5); CardOverrideBackend two = prior(7, 5, Capability.BATCH)) {
            NextBlockGenerator generator = new NextBlockGenerator();
            GenerationResult a = generator.generate(context(batch, 2, 9, Map.of("guidance_scale", 3.0),
                    Cancellation.NEVER), TokenSink.DISCARD);
            GenerationResult b = generator.generate(context(two, 2, 9, Map.of("guidance_scale", 3.0),
                    Cancellation.NEVER), TokenSink.DISCARD);
            assertThat(a.tokens()).containsExactly(b.tokens());
            assertThat(a.forwardPasses()).isEqualTo(13);
            assertThat(b.forwardPasses()).isEqualTo(26);
            assertThat(a.stats()).containsEntry("cfg.mode", "batch").containsEntry("cfg.guided_steps", 13)
                    .containsEntry("group.size", 7).containsEntry("group.causal_num", 7);
            assertThat(b.stats()).containsEntry("cfg.mode", "two_states");
            // guidance changes the image: the unconditional row is really used
            GenerationResult plain = generator.generate(context(batch, 2, 9, Map.of("guidance_scale", 1.0),
                    Cancellation.NEVER), TokenSink.DISCARD);
            assertThat(plain.tokens()).isNotEqualTo(a.tokens());
            assertThat(plain.forwardPasses()).isEqualTo(13);
        }
    }

    @Test
    void theBlockSizeDefaultsToTheCardsAndTheCausalStartToOneBlock() {
        try (CardOverrideBackend model = prior(7, 2)) {
            GenerationResult r = new NextBlockGenerator().generate(context(model, 0, 1, Map.of(), Cancellation.NEVER),
                    TokenSink.DISCARD);
            assertThat(r.stats()).containsEntry("group.size", 7).containsEntry("group.causal_num", 7)
                    .containsEntry("cfg.scale", NextBlockGenerator.DEFAULT_GUIDANCE_SCALE);
            assertThat(r.forwardPasses()).isEqualTo(13);
        }
    }

    @Test
    void cancellationStopsBetweenForwards() {
        try (CardOverrideBackend model = prior(7, 3)) {
            GenerationResult r = new NextBlockGenerator().generate(context(model, 1, 1, Map.of(),
                    () -> model.forwardCalls() >= 9), TokenSink.DISCARD);
            assertThat(r.finishReason()).isEqualTo(FinishReason.CANCELLED);
            assertThat(model.forwardCalls()).isEqualTo(9);
            assertThat(r.tokens()).hasSize(7 + 2 * 7); // the causal row and two groups
        }
    }

    @Test
    void hostileOptionsAndMismatchedPriorsAreRefusedWithTheFix() {
        NextBlockGenerator generator = new NextBlockGenerator();
        try (CardOverrideBackend model = prior(7, 4)) {
            assertThatThrownBy(() -> generator.generate(context(model, 0, 1, Map.of("block_size", 1),
                    Cancellation.NEVER), TokenSink.DISCARD))
                    .isInstanceOf(ArborException.class)
                    .hasMessageContaining("needs exactly 540")
                    .hasMessageContaining("set block_size 7");
            assertThatThrownBy(() -> generator.generate(context(model, 0, 1, Map.of("causal_num", 6),
                    Cancellation.NEVER), TokenSink.DISCARD))
                    .hasMessageContaining("43 tokens after causal_num 6 do not split into groups of block_size 7");
            assertThatThrownBy(() -> generator.generate(context(model, 0, 1, Map.of("block_size", "row"),
                    Cancellation.NEVER), TokenSink.DISCARD))
                    .hasMessageContaining("option 'block_size' must be an integer");
            assertThatThrownBy(() -> generator.generate(context(model, 0, 1, Map.of("block_size", 50),
                    Cancellation.NEVER), TokenSink.DISCARD))
                    .hasMessageContaining("option 'block_size' must be between 1 and 49");
            assertThatThrownBy(() -> generator.generate(context(model, 0, 1, Map.of("guidance_scale", -1),
                    Cancellation.NEVER), TokenSink.DISCARD))
                    .hasMessageContaining("guidance_scale");
            assertThat(model.forwardCalls()).isZero();
        }
        try (CardOverrideBackend noSegments = prior(7, 4, Capability.SEGMENT_MASK)) {
            assertThatThrownBy(() -> generator.generate(context(noSegments, 0, 1, Map.of(), Cancellation.NEVER),
                    TokenSink.DISCARD)).hasMessageContaining("Capability.SEGMENT_MASK");
        }
    }

    @Test
    void blockSizeOneOnACausalPriorIsRasterDecodingForwardForForward() {
        try (CardOverrideBackend a = prior(1, 8); CardOverrideBackend b = prior(1, 8)) {
            AtomicReference<GenerationResult> raster = new AtomicReference<>(
                    new dev.arbor.generation.raster.RasterArGenerator().generate(context(a, 6, 21,
                            Map.of("guidance_scale", 2.5), Cancellation.NEVER), TokenSink.DISCARD));
            GenerationResult block = new NextBlockGenerator().generate(context(b, 6, 21,
                    Map.of("guidance_scale", 2.5, "block_size", 1, "causal_num", 1), Cancellation.NEVER),
                    TokenSink.DISCARD);
            assertThat(block.tokens()).containsExactly(raster.get().tokens());
            assertThat(block.logProbs()).containsExactly(raster.get().logProbs());
            assertThat(block.forwardPasses()).isEqualTo(raster.get().forwardPasses()).isEqualTo(49);
        }
    }
}
