package dev.arbor.generation.rcr;

import dev.arbor.api.ArborException;
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
import dev.arbor.diffusion.TokenProposer;
import dev.arbor.diffusion.UnmaskSchedule;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import org.osgi.service.component.annotations.Component;

/**
 * Masked-diffusion decoding with running confidence remasking ({@link RunningConfidenceRemasking}; MDPO, He et al.
 * 2025, arXiv:2508.13148; METHODS.md §3.7) on the MDLM step skeleton: every step is one stateless forward (RCR changes
 * earlier tokens, so no KV cache), after which exactly the schedule's number of tokens is decoded; no MASK remains at
 * the end. As in the reference, tokens of earlier blocks can be remasked and decoded again (option
 * {@code cross_block_remask}, default true; the output is then released when the whole region is decoded); with
 * false, completed blocks are final and streamed as soon as they are complete ({@link RcrLoop}).
 *
 * <p><b>Options</b> (schedule and confidence as MDPO's {@code test_llada.py}, which sweeps steps and blocks):
 * {@code steps} (default: one token per step),
 * {@code block_length} (default the whole region; block-causal models use their own blocks), {@code schedule} =
 * {@code linear} (default), {@code cosine} (MaskGIT, {@link MaskGitSchedule}) or {@code uniform} (LLaDA's),
 * {@code confidence} = {@code max_prob} (default, MDPO's {@code origin}), {@code margin} or {@code neg_entropy},
 * {@code cross_block_remask} (true: METHODS.md §3.7 {@code allowCrossBlockRemask}), {@code max_new_tokens}. Stats add
 * {@code remasked}, the number of tokens put back to MASK, and {@code remasked_earlier_blocks}, those of them that
 * belonged to an earlier block.
 */
@Component(service = Generator.class, property = {PartProperties.NAME + "=" + RcrGenerator.NAME,
        PartProperties.DESCRIPTION + "=Running confidence remasking (MDPO) for diffusion LMs: low-confidence "
                + "tokens of the current block are revised (steps, block_length, schedule, confidence)"})
public final class RcrGenerator implements Generator {
    /** Refuses what its {@link TokenProposer} cannot honour (a context-seeded watermark). */
    @Override
    public String incompatibility(Set<Trait> processorTraits) {
        return TokenProposer.processorRefusal(processorTraits);
    }

    public static final String NAME = "rcr";

    @Override
    public GenerationResult generate(GenerationContext context, TokenSink sink) {
        Objects.requireNonNull(context, "context");
        Objects.requireNonNull(sink, "sink");
        DiffusionModel model = DiffusionModel.of(context.model(), NAME);
        int genLength = model.budget(context);
        Options options = context.options();
        int steps = options.integer("steps", Math.max(1, genLength), 1, Integer.MAX_VALUE);
        int blockLength = options.integer("block_length", 0, 0, Integer.MAX_VALUE);
        String scheduleName = options.string("schedule", "linear");
        UnmaskSchedule schedule = switch (scheduleName) {
            case "linear" -> MaskGitSchedule.LINEAR;
            case "cosine" -> MaskGitSchedule.COSINE;
            case "uniform" -> UnmaskSchedule.UNIFORM;
            default -> throw ArborException.invalid("option 'schedule' of generator '" + NAME + "' must be linear, "
                    + "cosine or uniform, got '" + scheduleName + "'");
        };
        ConfidenceMetric metric = ConfidenceMetric.named(options.string("confidence", "max_prob"));
        boolean crossBlock = options.bool("cross_block_remask", true);

        Canvas canvas = new Canvas(context.prompt(), genLength, model.maskTokenId());
        TokenProposer proposer = new TokenProposer(context, model, metric);
        CanvasOutput output = new CanvasOutput(context, sink, canvas);
        RunningConfidenceRemasking policy = new RunningConfidenceRemasking(crossBlock);
        boolean finished = new RcrLoop(model, proposer, output, context.cancellation())
                .run(canvas, blockLength, steps, schedule, policy, crossBlock);
        Map<String, Object> stats = new LinkedHashMap<>();
        stats.put("strategy", NAME);
        stats.put("schedule", scheduleName);
        stats.put("remasked", policy.remasked());
        stats.put("remasked_earlier_blocks", policy.remaskedEarlierBlocks());
        return output.finish(model, !finished, stats);
    }

    @Override
    public Set<Trait> requirements() {
        return Set.of(Trait.NEEDS_BIDIRECTIONAL);
    }
}
