package dev.arbor.generation.maskeddiffusion;

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
import dev.arbor.diffusion.RemaskingPolicy;
import dev.arbor.diffusion.TokenProposer;
import dev.arbor.diffusion.UnmaskSchedule;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import org.osgi.service.component.annotations.Component;

/**
 * LLaDA-style masked-diffusion decoding with low-confidence remasking (Nie et al. 2025, "Large Language Diffusion
 * Models", arXiv:2502.09992; {@code ML-GSAI/LLaDA generate.py}), the baseline of the diffusion family: the generation
 * region starts as MASK, is split into semi-autoregressive blocks, and each block is decoded in a fixed number of
 * steps, committing at each step the scheduled number of most confident proposals (see
 * {@link MaskedDiffusionLoop}).
 *
 * <p><b>Options</b>: {@code steps} (denoising steps over the whole region, default = the generation length: one
 * token per step), {@code block_length} (default: the whole region for bidirectional models, the model's block size
 * for block-causal ones), {@code remasking} ({@code low_confidence}, the default, or {@code random}),
 * {@code confidence} ({@code max_prob}, default, {@code margin} or {@code neg_entropy}), {@code schedule}
 * ({@code uniform}), {@code max_new_tokens} (caps the generation length). The generation length is the request's
 * {@code max_tokens} within the context. Temperature, top-k, top-p and the selector come from the pipeline's
 * sampler chain (temperature 0 = greedy).
 *
 * <p><b>Model</b>: a masked-diffusion LM whose card gives a MASK id and BIDIRECTIONAL or BLOCK_CAUSAL attention;
 * either logit alignment. A causal model is refused, naming both parts.
 */
@Component(service = Generator.class, property = {PartProperties.NAME + "=" + MaskedDiffusionGenerator.NAME,
        PartProperties.DESCRIPTION + "=LLaDA masked-diffusion decoding with low-confidence remasking (steps, "
                + "block_length, remasking, confidence)"})
public final class MaskedDiffusionGenerator implements Generator {
    /** Refuses what its {@link TokenProposer} cannot honour (a context-seeded watermark). */
    @Override
    public String incompatibility(Set<Trait> processorTraits) {
        return TokenProposer.processorRefusal(processorTraits);
    }

    public static final String NAME = "masked-diffusion";

    @Override
    public GenerationResult generate(GenerationContext context, TokenSink sink) {
        Objects.requireNonNull(context, "context");
        Objects.requireNonNull(sink, "sink");
        DiffusionModel model = DiffusionModel.of(context.model(), NAME);
        int genLength = model.budget(context);
        Options options = context.options();
        int steps = options.integer("steps", Math.max(1, genLength), 1, Integer.MAX_VALUE);
        int blockLength = options.integer("block_length", 0, 0, Integer.MAX_VALUE);
        RemaskingPolicy policy = RemaskingPolicy.named(options.string("remasking", "low_confidence"));
        ConfidenceMetric metric = ConfidenceMetric.named(options.string("confidence", "max_prob"));
        UnmaskSchedule schedule = UnmaskSchedule.named(options.string("schedule", "uniform"));

        Canvas canvas = new Canvas(context.prompt(), genLength, model.maskTokenId());
        TokenProposer proposer = new TokenProposer(context, model, metric);
        CanvasOutput output = new CanvasOutput(context, sink, canvas);
        boolean finished = new MaskedDiffusionLoop(model, proposer, output, context.cancellation())
                .run(canvas, new MaskedDiffusionLoop.Settings(blockLength, steps, schedule, policy));
        Map<String, Object> stats = new LinkedHashMap<>();
        stats.put("strategy", NAME);
        stats.put("remasking", options.string("remasking", "low_confidence"));
        return output.finish(model, !finished, stats);
    }

    @Override
    public Set<Trait> requirements() {
        // Checked by the runtime against the backend's capability flags (FULL_ATTENTION); the card-level facts a
        // capability cannot express (MASK id, native attention) are checked per request by DiffusionModel.of.
        return Set.of(Trait.NEEDS_BIDIRECTIONAL);
    }
}
