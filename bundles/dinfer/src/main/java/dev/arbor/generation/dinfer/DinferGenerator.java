package dev.arbor.generation.dinfer;

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
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import org.osgi.service.component.annotations.Component;

/**
 * dInfer (inclusionAI, "dInfer: An Efficient Inference Framework for Diffusion Language Models", 2025;
 * {@code inclusionAI/dInfer python/dinfer/decoding}; METHODS.md §3.5), following its decomposition: an
 * {@link IterationManager} runs the blocks, a {@link ParallelDecoder} decides what each forward commits, and a
 * {@link CacheManager} decides what each forward computes.
 *
 * <p><b>Options</b> (defaults from dInfer's CLI and classes): {@code decoder} = {@code threshold} (default),
 * {@code credit}, {@code hierarchy} or {@code fixed}; {@code threshold} (0.9); {@code low_threshold} (hierarchy,
 * 0.4); {@code credit_alpha}, {@code credit_gamma}, {@code credit_beta} (0.7, 0.2, 0.8); {@code steps} (fixed: forwards
 * per block, default the block length); {@code cache} = {@code none} (default), {@code prefix}, {@code dual} or
 * {@code vicinity}, with {@code prefix_look}, {@code after_look}, {@code warmup_times} (vicinity: 16, 16, 4 as in
 * dInfer's README example; full forwards at the start of each block); {@code cache_update_freq} (0 = refresh only
 * on a new block); {@code block_length} (bidirectional models, default 64;
 * block-causal models use their own); {@code early_stop} (true); {@code confidence} (max_prob, margin,
 * neg_entropy); {@code max_new_tokens}. Not implemented: the soft-embedding ("smooth") iteration, whose
 * {@code h2e} formula is not in dInfer's public code.
 *
 * <p><b>MASK predictions</b>: the threshold and credit decoders follow dInfer's {@code rm_mask} (a position whose
 * draw is MASK stays masked in that forward; see {@link ThresholdDecoder} for the progress guarantee when every draw
 * is MASK). The hierarchy and fixed decoders draw without MASK: dInfer's versions have no {@code rm_mask} and write a
 * MASK draw back as MASK, which leaves the position masked but spends its slot (for the fixed schedule, possibly
 * leaving MASK after the last scheduled step, where dInfer would index past its schedule).
 */
@Component(service = Generator.class, property = {PartProperties.NAME + "=" + DinferGenerator.NAME,
        PartProperties.DESCRIPTION + "=dInfer diffusion decoding: threshold/credit/hierarchy/fixed decoders with "
                + "prefix or dual KV cache (decoder, threshold, cache, block_length)"})
public final class DinferGenerator implements Generator {
    /** Refuses what its {@link TokenProposer} cannot honour (a context-seeded watermark). */
    @Override
    public String incompatibility(Set<Trait> processorTraits) {
        return TokenProposer.processorRefusal(processorTraits);
    }

    public static final String NAME = "dinfer";
    static final int DEFAULT_BLOCK_LENGTH = 64;

    @Override
    public GenerationResult generate(GenerationContext context, TokenSink sink) {
        Objects.requireNonNull(context, "context");
        Objects.requireNonNull(sink, "sink");
        DiffusionModel model = DiffusionModel.of(context.model(), NAME);
        int genLength = model.budget(context);
        Options options = context.options();
        int blockLength = model.blockCausal() ? options.integer("block_length", 0, 0, Integer.MAX_VALUE)
                : options.integer("block_length", DEFAULT_BLOCK_LENGTH, 1, Integer.MAX_VALUE);
        String decoderName = options.string("decoder", "threshold");
        String cacheName = options.string("cache", "none");
        int cacheUpdateFreq = options.integer("cache_update_freq", 0, 0, Integer.MAX_VALUE);
        boolean vicinity = cacheName.equals("vicinity");
        // README example values for the vicinity cache; dInfer's CLI defaults (0) make it a dual cache
        int prefixLook = options.integer("prefix_look", vicinity ? 16 : 0, 0, Integer.MAX_VALUE);
        int afterLook = options.integer("after_look", vicinity ? 16 : 0, 0, Integer.MAX_VALUE);
        int warmup = options.integer("warmup_times", vicinity ? 4 : 0, 0, Integer.MAX_VALUE);
        boolean earlyStop = options.bool("early_stop", true);
        ConfidenceMetric metric = ConfidenceMetric.named(options.string("confidence", "max_prob"));

        Canvas canvas = new Canvas(context.prompt(), genLength, model.maskTokenId());
        TokenProposer proposer = new TokenProposer(context, model, metric);
        ParallelDecoder decoder = decoder(decoderName, options, proposer,
                model.blockCausal() ? model.blockSize() : blockLength);
        CanvasOutput output = new CanvasOutput(context, sink, canvas);
        boolean finished;
        IterationManager manager;
        try (CacheManager cache = CacheManager.named(cacheName, model, prefixLook, afterLook)) {
            manager = new IterationManager(model, proposer, output, decoder, cache, cacheUpdateFreq, warmup,
                    earlyStop);
            finished = manager.run(canvas, blockLength, context);
        }
        Map<String, Object> stats = new LinkedHashMap<>();
        stats.put("strategy", NAME);
        stats.put("decoder", decoderName);
        stats.put("cache", cacheName);
        stats.put("cache_refreshes", manager.refreshes);
        return output.finish(model, !finished, stats);
    }

    private static ParallelDecoder decoder(String name, Options options, TokenProposer proposer, int blockLength) {
        double threshold = options.number("threshold", 0.9, 0, 2);
        return switch (name) {
            case "threshold" -> new ThresholdDecoder(proposer, threshold);
            case "credit" -> new CreditDecoder(proposer, threshold, options.number("credit_alpha", 0.7, 0, 100),
                    options.number("credit_gamma", 0.2, 0, 100), options.number("credit_beta", 0.8, 0, 1));
            case "hierarchy" -> new HierarchyDecoder(proposer, threshold,
                    options.number("low_threshold", 0.4, 0, 2));
            case "fixed" -> new FixedDecoder(proposer, options.integer("steps", blockLength, 1, Integer.MAX_VALUE));
            default -> throw ArborException.invalid("option 'decoder' must be threshold, credit, hierarchy or fixed, "
                    + "got '" + name + "'");
        };
    }

    @Override
    public Set<Trait> requirements() {
        return Set.of(Trait.NEEDS_BIDIRECTIONAL);
    }
}
