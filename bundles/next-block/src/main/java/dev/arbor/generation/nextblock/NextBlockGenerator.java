package dev.arbor.generation.nextblock;

import dev.arbor.api.PartProperties;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.Generator;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.model.NativeAttention;
import dev.arbor.autoregressive.DecodeChecks;
import dev.arbor.blockgen.GroupLayout;
import dev.arbor.blockgen.GroupParallelDecoder;
import dev.arbor.blockgen.StepGuidance;
import dev.arbor.guidance.CfgConvention;
import dev.arbor.guidance.CfgRamp;
import dev.arbor.guidance.Guidance;
import dev.arbor.imagegen.ImageRequest;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import org.osgi.service.component.annotations.Component;

/**
 * Next Block Prediction for class-conditional images (NBP: Ren et al. 2025, "Next Block Prediction: Video Generation
 * via Semi-Autoregressive Modeling"; {@code github.com/RenShuhuai-Andy/NBP @421e9361 : nbp/modules/gpt.py}
 * {@code hybrid_sample_with_past}, {@code nbp/lm_transformer.py get_attn_mask}; METHODS.md §3.15): an image of N
 * tokens is decoded in blocks of {@code block_size} tokens (one token row of a raster token map), each block by one
 * forward whose rows are sampled independently, block-causal across blocks and bidirectional inside one.
 *
 * <p><b>Form implemented.</b> NBP's hybrid mode decodes the first block token by token, then feeds the last block and
 * reads the next block from its rows. Here the first {@code causal_num} tokens (default: one block) are decoded one by
 * one and the first parallel forward feeds {@code t_{c-1}} and {@code G - 1} learned query tokens, so every block
 * forward has G rows of its own (the prior of the forge's {@code image-group-parallel} objective;
 * {@link GroupLayout}). The loop is {@link GroupParallelDecoder}: KV append per block, cancellation checked between
 * forwards, classifier-free guidance rows as a batch-2 state (LlamaGen's convention by default; NBP's UCF evaluation
 * runs without guidance, cfg 0), the pipeline's processor chain per row on code-only logits, and the partial image
 * streamed after the first block and every block after. {@code block_size 1} is raster decoding: on a causal prior
 * it gives the raster-ar generator's image token for token.
 *
 * <p><b>Prior.</b> Vocabulary {@code layout.vocabSize() + block_size - 1} (the query ids follow the layout's), card
 * alignment NEXT and attention BLOCK_CAUSAL with {@code block_size} G (CAUSAL for G = 1), a backend listing
 * SEGMENT_MASK for G > 1, a context of N positions. The pipeline's tokenizer is an image tokenizer, the prompt one
 * class token.
 *
 * <p><b>Options</b> (pipeline defaults, per request): {@code block_size} (G, 1..N; default the prior's card
 * {@code block_size}, 1 for a causal prior), {@code causal_num} (c, 1..N with {@code (N - c) % G == 0}; default G,
 * NBP's hybrid start of one block; it must be the value the prior was trained with, on its card),
 * {@code guidance_scale} (default {@value #DEFAULT_GUIDANCE_SCALE}), {@code cfg_convention} ({@code llamagen}
 * default, {@code var}, {@code llada}), {@code cfg_ramp} ({@code constant} default, {@code linear},
 * {@code cosine}; over the forwards).
 *
 * <p><b>Stats</b>: {@code cfg.convention}, {@code cfg.scale}, {@code cfg.ramp}, then the loop's
 * ({@link GroupParallelDecoder}): {@code forwards}, {@code group.size}, {@code group.causal_num},
 * {@code group.steps}, {@code cfg.mode}, {@code cfg.guided_steps}, {@code image.class}, {@code image.canvases},
 * {@code wall_nanos}.
 */
@Component(service = Generator.class, property = {PartProperties.NAME + "=" + NextBlockGenerator.NAME,
        PartProperties.DESCRIPTION + "=Next Block Prediction (NBP) image decoding: one forward per block of "
                + "block_size tokens after causal_num tokens one by one, classifier-free guidance (guidance_scale, "
                + "cfg_convention, cfg_ramp); top-k/top-p from the pipeline"})
public final class NextBlockGenerator implements Generator {
    /** The generator's name ({@code arbor.part}). */
    public static final String NAME = "next-block";
    /**
     * Default {@code guidance_scale} in LlamaGen's convention, raster-ar's: the forge's Fashion-MNIST priors measure
     * their class accuracy near its top at s = 2 (BENCHMARKS.md's CFG sweep of fashion-ar). NBP's own video
     * evaluation uses no guidance.
     */
    public static final double DEFAULT_GUIDANCE_SCALE = 2.0;

    @Override
    public GenerationResult generate(GenerationContext context, TokenSink sink) {
        Objects.requireNonNull(context, "context");
        Objects.requireNonNull(sink, "sink");
        ModelCard card = context.model().card();
        ImageRequest image = ImageRequest.open(context, NAME);
        GroupLayout groups = groups(context, image, card);
        groups.checkModel(card, NAME);
        Guidance guidance = Guidance.read(context.options(), CfgConvention.LLAMAGEN, DEFAULT_GUIDANCE_SCALE,
                CfgRamp.CONSTANT);
        Map<String, Object> stats = new LinkedHashMap<>();
        stats.put("cfg.convention", guidance.convention().name().toLowerCase(Locale.ROOT));
        stats.put("cfg.scale", guidance.scale());
        stats.put("cfg.ramp", guidance.ramp().name().toLowerCase(Locale.ROOT));
        return GroupParallelDecoder.decode(context, sink, image, groups, StepGuidance.of(guidance),
                GroupParallelDecoder.RowSampler.of(DecodeChecks.sampler(context)), stats);
    }

    /** The request's {@code block_size} and {@code causal_num}, checked against the image. */
    static GroupLayout groups(GenerationContext context, ImageRequest image, ModelCard card) {
        int n = image.tokens();
        int fallback = card.nativeAttention() == NativeAttention.BLOCK_CAUSAL && card.blockSize() >= 1
                && card.blockSize() <= n ? card.blockSize() : 1;
        int g = context.options().integer("block_size", fallback, 1, n);
        int c = context.options().integer("causal_num", g, 1, n);
        return GroupLayout.of(image.layout(), g, c);
    }
}
