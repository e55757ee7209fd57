package dev.arbor.generation.eoserass;

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
 * EOS early rejection ({@link EosEarlyRejection}) with the ascending step-size schedule ({@link AscendingStepSize}),
 * Yang et al. 2025 (arXiv:2509.23924, {@code yjyddq/EOSER-ASS-RL}; METHODS.md §3.6), run by the shared
 * masked-diffusion step loop: by default the whole generation region is one block decoded in {@code ceil(log2 L)}
 * forwards (1, 2, 4, ... tokens per step), EOS proposals down-weighted early.
 *
 * <p><b>Options</b>: {@code schedule} = {@code ass} (default) or {@code uniform} (LLaDA's, for EOSER alone);
 * {@code eoser} (default true; false = plain low-confidence choice); {@code gamma_min} (default 0.01 with
 * {@code ass}, 0.4 with {@code uniform}, the reference's defaults), {@code gamma_max} (default 1), both in [0, 1];
 * {@code steps} (default: {@code ceil(log2 b)} per block of {@code b} tokens with {@code ass}, one token per step with
 * {@code uniform}); {@code block_length} (default the whole region; block-causal models use their own blocks);
 * {@code confidence} = {@code max_prob} (default) or {@code margin} ({@code neg_entropy} is negative, so scaling
 * would raise EOS; it is allowed only with {@code eoser=false}); {@code block_num} (default 1): with more than one,
 * the reference's multi-block layout ({@link AssBlockPlan}: blocks cut from the doubling sequence itself, e.g.
 * L = 128, block_num 4: blocks of 15, 16, 32 and 65 tokens in 4 + 1 + 1 + 1 steps), run by {@link AssBlockLoop}
 * with EOSER's ramp over the global steps; it needs a bidirectional model, schedule {@code ass}, no
 * {@code block_length}, and {@code steps} (if given) equal to {@code floor(log2 L)}; {@code max_new_tokens}.
 * With {@code block_num} 1 (the reference's eval script), each block of {@code block_length} gets its own ascending
 * schedule.
 */
@Component(service = Generator.class, property = {PartProperties.NAME + "=" + EoserAssGenerator.NAME,
        PartProperties.DESCRIPTION + "=EOS early rejection + ascending step-size schedule for diffusion LMs: "
                + "log2(L) forwards (schedule, eoser, gamma_min, gamma_max, steps, block_length)"})
public final class EoserAssGenerator implements Generator {
    /** Refuses what its {@link TokenProposer} cannot honour (a context-seeded watermark). */
    @Override
    public String incompatibility(Set<Trait> processorTraits) {
        return TokenProposer.processorRefusal(processorTraits);
    }

    public static final String NAME = "eoser-ass";

    @Override
    public GenerationResult generate(GenerationContext context, TokenSink sink) {
        Objects.requireNonNull(context, "context");
        Objects.requireNonNull(sink, "sink");
        DiffusionModel model = DiffusionModel.of(context.model(), NAME);
        int genLength = model.budget(context);
        Options options = context.options();
        String scheduleName = options.string("schedule", "ass");
        boolean ass = switch (scheduleName) {
            case "ass" -> true;
            case "uniform" -> false;
            default -> throw ArborException.invalid("option 'schedule' of generator '" + NAME + "' must be ass "
                    + "(ascending step sizes 1, 2, 4, ...) or uniform, got '" + scheduleName + "'");
        };
        boolean eoser = options.bool("eoser", true);
        double gammaMin = options.number("gamma_min", ass ? 0.01 : 0.4, 0, 1);
        double gammaMax = options.number("gamma_max", 1.0, 0, 1);
        if (gammaMin > gammaMax) {
            throw ArborException.invalid("option 'gamma_min' (" + gammaMin + ") must not exceed 'gamma_max' ("
                    + gammaMax + "): EOS confidences are scaled by a factor rising from gamma_min to gamma_max");
        }
        String confidence = options.string("confidence", "max_prob");
        if (eoser && confidence.equals("neg_entropy")) {
            throw ArborException.invalid("option 'confidence' neg_entropy is negative, so EOSER's scaling by "
                    + "gamma <= 1 would raise EOS confidences instead of lowering them; use max_prob or margin, "
                    + "or set eoser=false");
        }
        ConfidenceMetric metric = ConfidenceMetric.named(confidence);
        int[] eosIds = model.card().eosTokenIds();
        if (eoser && eosIds.length == 0) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "generator '" + NAME + "' down-weights EOS "
                    + "proposals, but model '" + model.card().name() + "' gives no EOS id in its card; add "
                    + "eos_token_id to its card or set eoser=false");
        }
        int blockLength = options.integer("block_length", 0, 0, Integer.MAX_VALUE);
        int blockNum = options.integer("block_num", 1, 1, Integer.MAX_VALUE);
        AssBlockPlan plan = blockNum > 1 ? plan(options, model, ass, blockNum, genLength) : null;

        Canvas canvas = new Canvas(context.prompt(), genLength, model.maskTokenId());
        RemaskingPolicy policy = eoser ? new EosEarlyRejection(gammaMin, gammaMax, eosIds,
                ass ? EosEarlyRejection.Ramp.ASCENDING : EosEarlyRejection.Ramp.LINEAR) : RemaskingPolicy.LOW_CONFIDENCE;
        TokenProposer proposer = new TokenProposer(context, model, metric);
        CanvasOutput output = new CanvasOutput(context, sink, canvas);
        boolean finished;
        if (plan != null) {
            finished = new AssBlockLoop(model, proposer, output, context.cancellation()).run(canvas, plan, policy);
        } else {
            int[][] blocks = model.blocks(canvas, blockLength);
            int steps = steps(options, ass, blocks, genLength);
            UnmaskSchedule schedule = ass ? AscendingStepSize.INSTANCE : UnmaskSchedule.UNIFORM;
            finished = new MaskedDiffusionLoop(model, proposer, output, context.cancellation())
                    .run(canvas, new MaskedDiffusionLoop.Settings(blockLength, steps, schedule, policy));
        }
        Map<String, Object> stats = new LinkedHashMap<>();
        stats.put("strategy", NAME);
        stats.put("schedule", scheduleName);
        stats.put("eoser", eoser);
        if (plan != null) {
            stats.put("block_sizes", java.util.Arrays.stream(plan.sizes()).boxed().toList());
        }
        if (eoser) {
            stats.put("gamma_min", gammaMin);
            stats.put("gamma_max", gammaMax);
        }
        return output.finish(model, !finished, stats);
    }

    /** The multi-block plan for {@code block_num > 1}, after checking that the request can run it. */
    private static AssBlockPlan plan(Options options, DiffusionModel model, boolean ass, int blockNum, int genLength) {
        if (!ass) {
            throw ArborException.invalid("option 'block_num' above 1 cuts the region by the ascending step sizes, so "
                    + "it needs schedule=ass, got schedule=uniform");
        }
        if (options.has("block_length")) {
            throw ArborException.invalid("options 'block_num' (" + blockNum + ") and 'block_length' both set the "
                    + "blocks: block_num above 1 sizes them from the doubling steps (e.g. 15, 16, 32, 65 for 128 "
                    + "tokens); give one of them");
        }
        if (model.blockCausal()) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "option 'block_num' above 1 sizes the blocks "
                    + "from the doubling steps, but model '" + model.card().name() + "' is block-causal with its "
                    + "own blocks of " + model.blockSize() + "; use block_num 1");
        }
        if (genLength < 4) {
            throw ArborException.invalid("option 'block_num' above 1 needs at least 4 generated tokens (two doubling "
                    + "steps), got " + genLength + "; raise max_new_tokens or use block_num 1");
        }
        int s = AssBlockPlan.steps(genLength);
        if (options.has("steps")) {
            int steps = options.integer("steps", s, 1, Integer.MAX_VALUE);
            if (steps != s) {
                throw ArborException.invalid("option 'steps' is " + steps + ", but with block_num above 1 the "
                        + "reference layout decodes " + genLength + " tokens in exactly floor(log2 L) = " + s
                        + " steps (2^steps must not exceed L, and every power below floor(log2 L) is a step); "
                        + "leave steps out or set it to " + s);
            }
        }
        return AssBlockPlan.of(genLength, blockNum);
    }

    /**
     * The total steps: the option, or the schedule's natural count. With {@code ass} every block must fit its share
     * ({@link MaskedDiffusionLoop#spread}): doubling from 1, a block of {@code b} tokens has room for at most
     * {@code floor(log2 b) + 1} steps.
     */
    private static int steps(Options options, boolean ass, int[][] blocks, int genLength) {
        if (!ass) {
            return options.integer("steps", Math.max(1, genLength), 1, Integer.MAX_VALUE);
        }
        int natural = 0;
        for (int[] b : blocks) {
            natural += AscendingStepSize.defaultSteps(b[1] - b[0]);
        }
        if (!options.has("steps")) {
            // The loop spreads steps evenly over blocks, and a short first block (the prompt's remainder of a
            // block-diffusion model) has room for fewer: take the largest default every block can hold.
            int fitting = Math.max(1, natural);
            while (fitting > 1 && !fits(MaskedDiffusionLoop.spread(fitting, Math.max(1, blocks.length)), blocks)) {
                fitting--;
            }
            return fitting;
        }
        int steps = options.integer("steps", Math.max(1, natural), 1, Integer.MAX_VALUE);
        int[] share = MaskedDiffusionLoop.spread(steps, Math.max(1, blocks.length));
        for (int b = 0; b < blocks.length; b++) {
            int size = blocks[b][1] - blocks[b][0];
            if (share[b] > AscendingStepSize.maxSteps(size)) {
                throw ArborException.invalid("option 'steps' is " + steps + ", which gives a block of " + size
                        + " tokens " + share[b] + " steps, but the ascending schedule doubles the tokens per step "
                        + "(1, 2, 4, ...) so " + size + " tokens fit in at most " + AscendingStepSize.maxSteps(size)
                        + " steps; lower steps (the default is " + natural + ") or use schedule=uniform");
            }
        }
        return steps;
    }

    private static boolean fits(int[] share, int[][] blocks) {
        for (int b = 0; b < blocks.length; b++) {
            if (share[b] > AscendingStepSize.maxSteps(blocks[b][1] - blocks[b][0])) {
                return false;
            }
        }
        return true;
    }

    @Override
    public Set<Trait> requirements() {
        return Set.of(Trait.NEEDS_BIDIRECTIONAL);
    }
}
