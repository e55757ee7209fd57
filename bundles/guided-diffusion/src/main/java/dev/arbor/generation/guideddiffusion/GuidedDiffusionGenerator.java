package dev.arbor.generation.guideddiffusion;

import dev.arbor.api.Options;
import dev.arbor.api.PartProperties;
import dev.arbor.api.Trait;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.Generator;
import dev.arbor.api.generation.ModelResolver;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.pipeline.ModelRef;
import dev.arbor.autoregressive.ModelOptions;
import dev.arbor.diffusion.Canvas;
import dev.arbor.diffusion.CanvasOutput;
import dev.arbor.diffusion.ConfidenceMetric;
import dev.arbor.diffusion.DiffusionModel;
import dev.arbor.diffusion.Proposal;
import dev.arbor.diffusion.TokenProposer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import org.osgi.service.component.annotations.Component;

/**
 * FlashDLM guided diffusion with FreeCache (Hu et al. 2025, "Accelerating Diffusion Language Model Inference via
 * Efficient KV Caching and Guided Diffusion", arXiv:2505.21467; {@code ZhanqiuHu/flash-dlm-experimental
 * guided_diffusion/diff_spec_utils_assisted.py assisted_block_diffusion_generate}; METHODS.md §3.9). Each step:
 * <ol>
 *   <li>one forward of the diffusion LM through {@link FreeCache} (the prompt's KV frozen after the first step);</li>
 *   <li>drafts: a token for each masked position from the first one onwards, left to right, up to the end of the
 *       current block, drawn with the pipeline's sampler (greedy at temperature 0, as the reference);</li>
 *   <li>the autoregressive guide ({@link GuideVerifier}) scores them in chunks of {@code verify_batch_size}, one
 *       forward each, going on to the next chunk while every draft of a chunk is accepted, and accepts the longest
 *       prefix its rule allows;</li>
 *   <li>the accepted drafts are committed; if the first was rejected it is committed anyway (the reference's rule:
 *       always one token of progress, the guide's own token is not used).</li>
 * </ol>
 * Committed tokens are final (decoding is left to right), so they are released at once; decoding stops at the first
 * stop token. With the deterministic rule every token that was not forced is the guide's greedy choice; given an
 * oracle diffusion model that drafts the guide's greedy continuation the output is exactly the guide's greedy output.
 *
 * <p><b>Options</b> (defaults from the reference's {@code AssistedDiffusionConfig}): {@code guide} (required): the
 * name of a model in the installation's model registry (see {@link ModelResolver#reference}; an operator's pipeline
 * file may give a full reference), a causal LM sharing the diffusion model's token ids;
 * {@code strategy} = {@code deterministic} (default), {@code topk}, {@code dynamic_threshold} or {@code original};
 * {@code acceptance_top_k} (5); {@code confidence_threshold} (0.1); {@code verify_batch_size} (32);
 * {@code block_length} (32; block-causal models use their own blocks); {@code cache} = {@code prompt} (default),
 * {@code committed} or {@code none}; {@code max_new_tokens}. The generation length is also capped so every fed
 * position fits the guide's context.
 *
 * <p>{@link GenerationResult#forwardPasses()} counts the diffusion model's forwards, as for every diffusion
 * strategy; stats add {@code guide_forward_passes}, {@code total_forward_passes}, {@code tokens_per_total_forward},
 * {@code drafts_verified}, {@code accepted_drafts}, {@code forced_commits} and {@code forced_positions} (indices in
 * the generation region), {@code cached_forwards}. Not implemented: the reference's sliding-window cache. Drafts
 * stop at the block's end (the reference drafts every masked position to the end of the canvas and uses its
 * {@code block_size} for caching only; with the default block and chunk of 32 one chunk covers a block).
 */
@Component(service = Generator.class, property = {PartProperties.NAME + "=" + GuidedDiffusionGenerator.NAME,
        PartProperties.DESCRIPTION + "=FlashDLM guided diffusion: a small autoregressive guide verifies the diffusion "
                + "LM's left-to-right drafts, FreeCache freezes the prompt KV (guide, strategy, cache, "
                + "verify_batch_size)"})
public final class GuidedDiffusionGenerator implements Generator {
    /** Refuses what its {@link TokenProposer} cannot honour (a context-seeded watermark). */
    @Override
    public String incompatibility(Set<Trait> processorTraits) {
        return TokenProposer.processorRefusal(processorTraits);
    }

    public static final String NAME = "guided-diffusion";
    static final int DEFAULT_BLOCK_LENGTH = 32;
    static final int DEFAULT_VERIFY_BATCH = 32;

    @Override
    public Set<String> modelOptions() {
        return Set.of("guide");
    }

    @Override
    public GenerationResult generate(GenerationContext context, TokenSink sink) {
        Objects.requireNonNull(context, "context");
        Objects.requireNonNull(sink, "sink");
        DiffusionModel model = DiffusionModel.of(context.model(), NAME);
        int budget = model.budget(context);
        Options options = context.options();
        GuideVerifier.Strategy strategy = GuideVerifier.Strategy.named(options.string("strategy", "deterministic"));
        int topK = options.integer("acceptance_top_k", 5, 1, Integer.MAX_VALUE);
        double threshold = options.number("confidence_threshold", 0.1, 0, 1);
        int batch = options.integer("verify_batch_size", DEFAULT_VERIFY_BATCH, 1, 4096);
        int blockLength = model.blockCausal() ? options.integer("block_length", 0, 0, Integer.MAX_VALUE)
                : options.integer("block_length", DEFAULT_BLOCK_LENGTH, 1, Integer.MAX_VALUE);
        FreeCache.Mode cacheMode = FreeCache.Mode.named(options.string("cache", "prompt"));
        ModelRef ref = guideRef(options, context.models());
        ModelBackend guide = context.models().open(ref);
        GuideVerifier.check(guide.card(), model.card(), NAME, context.prompt());
        int[] prompt = context.prompt();
        // The guide is fed positions up to length-2 (the last draft is never fed), so length <= guide context + 1.
        int genLength = Math.max(0, Math.min(budget, guide.card().maxPositions() + 1 - prompt.length));

        Canvas canvas = new Canvas(prompt, genLength, model.maskTokenId());
        TokenProposer proposer = new TokenProposer(context, model, ConfidenceMetric.MAX_PROBABILITY);
        CanvasOutput output = new CanvasOutput(context, sink, canvas);
        Run run = new Run(model, canvas, proposer, output);
        boolean finished;
        try (FreeCache cache = new FreeCache(model, cacheMode);
             GuideVerifier verifier = new GuideVerifier(guide, strategy, topK, threshold, batch,
                     proposer.random())) {
            finished = run.decode(model.blocks(canvas, blockLength), cache, verifier, context);
            Map<String, Object> stats = new LinkedHashMap<>();
            stats.put("strategy", NAME);
            stats.put("verification", options.string("strategy", "deterministic"));
            stats.put("cache", cacheMode.name().toLowerCase(java.util.Locale.ROOT));
            stats.put("guide", guide.card().name());
            int total = model.forwardPasses() + verifier.forwardPasses();
            stats.put("guide_forward_passes", verifier.forwardPasses());
            stats.put("total_forward_passes", total);
            stats.put("drafts_verified", verifier.draftsScored());
            stats.put("accepted_drafts", run.accepted);
            stats.put("forced_commits", run.forced.size());
            stats.put("forced_positions", List.copyOf(run.forced));
            stats.put("cached_forwards", cache.cachedForwards());
            GenerationResult result = output.finish(model, !finished, stats);
            Map<String, Object> all = new LinkedHashMap<>(result.stats());
            all.put("tokens_per_total_forward", total == 0 ? 0.0 : (double) result.tokens().length / total);
            return new GenerationResult(result.tokens(), result.logProbs(), result.finishReason(),
                    result.forwardPasses(), all);
        }
    }

    /** One request's decoding state. */
    private static final class Run {
        private final DiffusionModel model;
        private final Canvas canvas;
        private final TokenProposer proposer;
        private final CanvasOutput output;
        final List<Integer> forced = new ArrayList<>();
        int accepted;

        Run(DiffusionModel model, Canvas canvas, TokenProposer proposer, CanvasOutput output) {
            this.model = model;
            this.canvas = canvas;
            this.proposer = proposer;
            this.output = output;
        }

        /** Returns false when cancelled. */
        boolean decode(int[][] blocks, FreeCache cache, GuideVerifier verifier, GenerationContext context) {
            int first = canvas.promptLength();
            for (int[] block : blocks) {
                while (first < block[1]) {
                    if (context.cancellation().isCancelled()) {
                        return false;
                    }
                    int[] positions = DiffusionModel.range(first, block[1]);
                    float[][] logits = cache.logits(canvas, positions, first);
                    List<Proposal> drafts = new ArrayList<>(positions.length);
                    int[] tokens = new int[positions.length];
                    for (int i = 0; i < positions.length; i++) {
                        drafts.add(proposer.propose(positions[i], logits[i]));
                        tokens[i] = drafts.get(i).token();
                    }
                    int ok = verifier.verify(canvas, first, tokens);
                    accepted += ok;
                    if (ok == 0) {
                        forced.add(first - canvas.promptLength());
                    }
                    int commit = Math.max(1, ok);
                    int stamp = output.steps();
                    for (int i = 0; i < commit; i++) {
                        Proposal p = drafts.get(i);
                        canvas.commit(p.position(), p.token(), stamp);
                        proposer.committed(p.token());
                        output.record(p);
                    }
                    output.step();
                    first += commit;
                    verifier.committed(first);
                    if (!output.release(first)) {
                        return true;
                    }
                }
            }
            return true;
        }
    }

    /** The guide's model reference from option {@code guide}: a registry name (see {@link ModelResolver#reference}). */
    static ModelRef guideRef(Options options, ModelResolver models) {
        return ModelOptions.required(options, models, "guide", "generator '" + NAME + "' needs a guide model",
                "a small causal LM that shares the diffusion model's tokenizer");
    }

    @Override
    public Set<Trait> requirements() {
        return Set.of(Trait.NEEDS_BIDIRECTIONAL);
    }
}
