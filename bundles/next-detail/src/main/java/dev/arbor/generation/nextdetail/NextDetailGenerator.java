package dev.arbor.generation.nextdetail;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
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
 * DetailFlow's next-detail decoding for class-conditional images (Liu et al. 2025, "DetailFlow: 1D Coarse-to-Fine
 * Autoregressive Image Generation via Next-Detail Prediction"; {@code github.com/ByteFlow-AI/DetailFlow @c5f06cd :
 * autoregressive/models/generate.py generate_group_par, sample_group}, {@code autoregressive/models/gpt.py
 * create_group_causal_mask}; METHODS.md §3.16). The image is a 1D coarse-to-fine token sequence (the pipeline's
 * tokenizer, e.g. format {@code image-1d}: a prefix decodes to a coarse image, later tokens add detail); the first
 * {@code causal_num} tokens are decoded one per forward, then every forward yields a group of {@code group_size}
 * tokens, its rows sampled independently.
 *
 * <p><b>Sequence and mask.</b> {@code [class, t_0..t_{c−1}, q_1..q_{G−1}, t_c..t_{N−1}]} with learned query tokens
 * {@code q_j} (ids after the image layout's) and DetailFlow's group-causal mask: causal over the first {@code c}
 * positions, then a position sees every earlier group and its own group ({@link GroupLayout}, shared with the
 * next-block generator). A decode is {@code 1 + (c − 1) + (N − c)/G} forwards (DetailFlow: 128 tokens, G = 8 ⇒ 23).
 *
 * <p><b>Form implemented.</b> DetailFlow's reference recomputes the whole sequence at every group step (no KV
 * cache). Under the group-causal mask the rows of earlier positions do not depend on later ones, so appending each
 * step's positions to a KV state gives the same logits: this generator appends ({@link GroupParallelDecoder}), one
 * forward per step, cancellation checked between forwards. DetailFlow's "self-correction" is a training-time
 * mechanism (the prior is trained on perturbed prefixes, the tokenizer with {@code correction_training}); nothing
 * of it runs at inference in {@code generate_group_par}, and it is not done here (the forge's prior is trained on
 * clean sequences). DetailFlow's tokenizer is a learned 1D transformer; the forge's is residual VQ in a PCA basis
 * with the same prefix property ({@code dev.arbor.models.images.CoarseToFineVq}).
 *
 * <p><b>Options</b> (pipeline defaults, per request): {@code group_size} (G, 1..N; default the prior's card
 * {@code block_size} for a BLOCK_CAUSAL prior, 1 for a causal one), {@code causal_num} (c, 1..N with
 * {@code (N − c) % G == 0}; default G, DetailFlow's default; it must be what the prior was trained with),
 * {@code guidance_scale} (default {@value #DEFAULT_GUIDANCE_SCALE}), {@code cfg_convention} ({@code llamagen}
 * default, DetailFlow's, {@code var}, {@code llada}), {@code cfg_ramp} ({@code constant} default, {@code linear},
 * {@code cosine}; over the forwards), {@code gradual_cfg} (default false: DetailFlow's gradual guidance
 * {@code s·(N/G − g + 1)/(N/G + 1)} at group {@code g}, {@link GradualCfg}; needs c a multiple of G and no ramp).
 * {@code group_size 1} is raster decoding: on a causal prior it gives the raster-ar generator's tokens.
 *
 * <p><b>Stats</b>: {@code cfg.convention}, {@code cfg.scale}, {@code cfg.ramp}, {@code cfg.gradual}, then the loop's
 * ({@link GroupParallelDecoder}): {@code forwards}, {@code group.size}, {@code group.causal_num},
 * {@code group.steps}, {@code cfg.mode}, {@code cfg.guided_steps}, {@code image.class}, {@code image.canvases}
 * (the coarse image after the causal start and after every group), {@code wall_nanos}.
 */
@Component(service = Generator.class, property = {PartProperties.NAME + "=" + NextDetailGenerator.NAME,
        PartProperties.DESCRIPTION + "=DetailFlow next-detail image decoding: causal_num 1D coarse-to-fine tokens "
                + "one by one, then group_size tokens per forward (learned queries, group-causal mask), "
                + "classifier-free guidance (guidance_scale, cfg_convention, cfg_ramp, gradual_cfg); top-k/top-p "
                + "from the pipeline"})
public final class NextDetailGenerator implements Generator {
    /** The generator's name ({@code arbor.part}). */
    public static final String NAME = "next-detail";
    /** Option: the group size G. */
    public static final String GROUP_SIZE = "group_size";
    /** Option: the tokens decoded one by one before the groups. */
    public static final String CAUSAL_NUM = "causal_num";
    /** Option: DetailFlow's gradual classifier-free guidance. */
    public static final String GRADUAL_CFG = "gradual_cfg";
    /**
     * Default {@code guidance_scale} (LlamaGen's convention, DetailFlow's): DetailFlow evaluates its 128-token model
     * at 1.45 ({@code scripts/eval_c2i.sh}); the shipped pipeline sets the value measured on the forge's prior.
     */
    public static final double DEFAULT_GUIDANCE_SCALE = 1.45;

    @Override
    public GenerationResult generate(GenerationContext context, TokenSink sink) {
        Objects.requireNonNull(context, "context");
        Objects.requireNonNull(sink, "sink");
        ModelCard card = context.model().card();
        ImageRequest image = ImageRequest.open(context, NAME);
        GroupLayout groups = groups(context.options(), image, card);
        checkGroupSize(card, groups.groupSize());
        groups.checkModel(card, NAME);
        Guidance guidance = Guidance.read(context.options(), CfgConvention.LLAMAGEN, DEFAULT_GUIDANCE_SCALE,
                CfgRamp.CONSTANT);
        boolean gradual = context.options().bool(GRADUAL_CFG, false);
        StepGuidance schedule = gradual ? GradualCfg.of(guidance, groups) : StepGuidance.of(guidance);
        Map<String, Object> stats = new LinkedHashMap<>();
        stats.put("cfg.convention", guidance.convention().name().toLowerCase(Locale.ROOT));
        stats.put("cfg.scale", guidance.scale());
        stats.put("cfg.ramp", guidance.ramp().name().toLowerCase(Locale.ROOT));
        stats.put("cfg.gradual", gradual);
        return GroupParallelDecoder.decode(context, sink, image, groups, schedule,
                GroupParallelDecoder.RowSampler.of(DecodeChecks.sampler(context)), stats);
    }

    /** The prior must have been trained with the request's group size (its query tokens and mask depend on it). */
    static void checkGroupSize(ModelCard card, int g) {
        if (card.nativeAttention() == NativeAttention.BLOCK_CAUSAL && card.blockSize() != g) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, NAME + " with " + GROUP_SIZE + " " + g
                    + " needs a prior trained with groups of " + g + ", but " + card.name() + " was trained with "
                    + "groups of " + card.blockSize() + " (its card's block_size); set " + GROUP_SIZE + " "
                    + card.blockSize());
        }
        if (card.nativeAttention() == NativeAttention.CAUSAL && g != 1) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, NAME + " with " + GROUP_SIZE + " " + g
                    + " needs a group-parallel prior (attention BLOCK_CAUSAL), but " + card.name() + " is causal: "
                    + "set " + GROUP_SIZE + " 1 (raster decoding) or use a prior trained with groups");
        }
    }

    /**
     * The request's {@code group_size} and {@code causal_num}, checked against the image's N tokens with messages
     * that name these options (before {@link GroupLayout#of} sees them).
     */
    static GroupLayout groups(Options options, ImageRequest image, ModelCard card) {
        int n = image.tokens();
        int fallback = card.nativeAttention() == NativeAttention.BLOCK_CAUSAL && card.blockSize() >= 1
                && card.blockSize() <= n ? card.blockSize() : 1;
        int g = options.integer(GROUP_SIZE, fallback, 1, n);
        int c = options.integer(CAUSAL_NUM, g, 1, n);
        if ((n - c) % g != 0) {
            throw ArborException.invalid("the " + (n - c) + " tokens after " + CAUSAL_NUM + " " + c + " do not split "
                    + "into groups of " + GROUP_SIZE + " " + g + " (an image has " + n + " tokens); set " + CAUSAL_NUM
                    + " so that " + n + " - " + CAUSAL_NUM + " is a multiple of " + g + " (DetailFlow's default is "
                    + CAUSAL_NUM + " = " + GROUP_SIZE + ", the value the prior was trained with: its card's causal_num)");
        }
        return GroupLayout.of(image.layout(), g, c);
    }
}
