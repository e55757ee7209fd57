package dev.arbor.generation.entropyorder;

import dev.arbor.api.Options;
import dev.arbor.api.PartProperties;
import dev.arbor.api.Trait;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.Generator;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.diffusion.Canvas;
import dev.arbor.diffusion.CanvasOutput;
import dev.arbor.diffusion.ConfidenceMetric;
import dev.arbor.diffusion.DiffusionModel;
import dev.arbor.diffusion.MaskedDiffusionLoop;
import dev.arbor.diffusion.TokenProposer;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import org.osgi.service.component.annotations.Component;

/**
 * DiffuCoder's entropy-ordered unmasking (Gong et al. 2025, arXiv:2506.20639; Dream {@code alg="entropy"},
 * METHODS.md §3.8) on the shared step loop: each step proposes a token for every masked position with the pipeline's
 * sampler (temperature, top-p, top-k, as Dream's {@code sample_tokens}), scores it by the negative entropy of the
 * position's processed distribution ({@link ConfidenceMetric#NEGATIVE_ENTROPY}: the most certain positions first),
 * decodes the number {@link DreamTimeSchedule} gives, and picks the positions with {@link PositionTemperature}.
 *
 * <p><b>Options</b> (DiffuCoder's defaults): {@code steps} (default: the generation length, DiffuCoder's
 * TOKEN_PER_STEP = 1), {@code eps} (Dream's final time, default 1e-3, in (0, 1)), {@code alg_temp} (position
 * temperature, default 0 = most certain first), {@code confidence} ({@code neg_entropy}, the default; {@code max_prob}
 * gives Dream's {@code maskgit_plus}, {@code margin} its {@code topk_margin}), {@code block_length} (default: the whole
 * region, as Dream; block-causal models use their own blocks), {@code max_new_tokens}. The sampling temperature
 * (DiffuCoder uses 0.2 to 0.4) and top-p come from the pipeline's sampler chain.
 */
@Component(service = Generator.class, property = {PartProperties.NAME + "=" + EntropyOrderGenerator.NAME,
        PartProperties.DESCRIPTION + "=DiffuCoder entropy-ordered unmasking for diffusion LMs with Dream's time "
                + "schedule and position temperature (steps, eps, alg_temp, confidence)"})
public final class EntropyOrderGenerator implements Generator {
    /** Refuses what its {@link TokenProposer} cannot honour (a context-seeded watermark). */
    @Override
    public String incompatibility(Set<Trait> processorTraits) {
        return TokenProposer.processorRefusal(processorTraits);
    }

    public static final String NAME = "entropy-order";

    @Override
    public GenerationResult generate(GenerationContext context, TokenSink sink) {
        Objects.requireNonNull(context, "context");
        Objects.requireNonNull(sink, "sink");
        DiffusionModel model = DiffusionModel.of(context.model(), NAME);
        int genLength = model.budget(context);
        Options options = context.options();
        int steps = options.integer("steps", Math.max(1, genLength), 1, Integer.MAX_VALUE);
        double eps = options.number("eps", DreamTimeSchedule.DEFAULT_EPS, Double.MIN_NORMAL, Math.nextDown(1.0));
        double algTemp = options.number("alg_temp", 0, 0, Double.MAX_VALUE);
        int blockLength = options.integer("block_length", 0, 0, Integer.MAX_VALUE);
        String confidence = options.string("confidence", "neg_entropy");
        ConfidenceMetric metric = ConfidenceMetric.named(confidence);

        Canvas canvas = new Canvas(context.prompt(), genLength, model.maskTokenId());
        TokenProposer proposer = new TokenProposer(context, model, metric);
        CanvasOutput output = new CanvasOutput(context, sink, canvas);
        boolean finished = new MaskedDiffusionLoop(model, proposer, output, context.cancellation())
                .run(canvas, new MaskedDiffusionLoop.Settings(blockLength, steps, new DreamTimeSchedule(eps),
                        new PositionTemperature(algTemp)));
        Map<String, Object> stats = new LinkedHashMap<>();
        stats.put("strategy", NAME);
        stats.put("confidence", confidence);
        stats.put("alg_temp", algTemp);
        return output.finish(model, !finished, stats);
    }

    @Override
    public Set<Trait> requirements() {
        return Set.of(Trait.NEEDS_BIDIRECTIONAL);
    }
}
