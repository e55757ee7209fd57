package dev.arbor.generation.fastdllm;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.PartProperties;
import dev.arbor.api.Trait;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.Generator;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.model.StateWrite;
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
 * Fast-dLLM v2 block-diffusion decoding (Wu et al. 2025, "Fast-dLLM v2: Efficient Block-Diffusion LLM",
 * NVlabs/Fast-dLLM {@code v2/generation_functions.py} {@code batch_sample}; METHODS.md §3.4).
 *
 * <p><b>Algorithm.</b> The prompt's complete blocks are prefilled into the KV cache. Then block by block (blocks at
 * multiples of the block size {@code b}, so the first may hold the prompt's tail): under NEXT alignment the block's
 * first position, when it is to be generated, is decoded from the last row of the previous block (the autoregressive
 * hand-off); the block is then decoded sub-block by sub-block ({@code sb} positions): while the sub-block has MASK
 * tokens, one forward of the whole block over the read-only cache (in-block bidirectional, block-causal towards the
 * cache) proposes a token for each of its masked positions, and every proposal with confidence {@code > threshold}
 * is committed, plus always the most confident one (so at least one per forward). A complete block is forwarded
 * once more appending its KV to the cache (the block-level cache: exact, since under block-causal attention a
 * committed block's keys never change), and that forward's last row gives the next block's hand-off.
 *
 * <p><b>Sub-block cache</b> ({@code use_block_cache=true}, off by default as in Fast-dLLM's eval): when no block KV
 * exists yet or the first slot of the current sub-block is still MASK, the whole block is forwarded and its KV kept;
 * otherwise only the sub-block is forwarded, its KV written over its slots ({@link StateWrite.At}), reading the
 * stale KV of the block's other slots. This is approximate; tests measure its error. It needs a backend with
 * {@link Capability#STATE_WRITE_AT} and {@link Capability#SEGMENT_MASK}.
 *
 * <p><b>Deliberate differences</b>: tokens and the hand-off are drawn with the pipeline's sampler (greedy under
 * temperature 0, which is the reference's default; the reference always takes argmax for the hand-off); decoding
 * stops after the block in which the first stop token appears (the reference pads everything after it, which gives
 * the same output). On a bidirectional model (no block size in the card) the same procedure runs with
 * {@code block_size} (default 32), treating the model as block-causal: an approximation (METHODS.md's class a′).
 *
 * <p><b>Options</b>: {@code threshold} (default 0.9; above 1 commits exactly one token per forward), {@code
 * sub_block_size} (default 8, at most the block size, dividing it), {@code block_size} (bidirectional models only),
 * {@code use_block_cache} (default false), {@code confidence} (max_prob, margin, neg_entropy; default max_prob),
 * {@code max_new_tokens}. Stats: {@code committed_blocks}, {@code sub_block_forwards}, plus the core's.
 */
@Component(service = Generator.class, property = {PartProperties.NAME + "=" + FastDllmGenerator.NAME,
        PartProperties.DESCRIPTION + "=Fast-dLLM v2 block diffusion: threshold parallel unmasking by sub-blocks with "
                + "block and sub-block caches (threshold, sub_block_size, use_block_cache)"})
public final class FastDllmGenerator implements Generator {
    /** Refuses what its {@link TokenProposer} cannot honour (a context-seeded watermark). */
    @Override
    public String incompatibility(Set<Trait> processorTraits) {
        return TokenProposer.processorRefusal(processorTraits);
    }

    public static final String NAME = "fast-dllm";
    static final double DEFAULT_THRESHOLD = 0.9;
    static final int DEFAULT_SUB_BLOCK = 8;
    static final int DEFAULT_BIDIRECTIONAL_BLOCK = 32;

    @Override
    public GenerationResult generate(GenerationContext context, TokenSink sink) {
        Objects.requireNonNull(context, "context");
        Objects.requireNonNull(sink, "sink");
        DiffusionModel model = DiffusionModel.of(context.model(), NAME);
        int genLength = model.budget(context);
        Options options = context.options();
        int blockSize = blockSize(model, options);
        int subBlock = options.integer("sub_block_size", Math.min(DEFAULT_SUB_BLOCK, blockSize), 1, blockSize);
        if (blockSize % subBlock != 0) {
            throw ArborException.invalid("option 'sub_block_size' (" + subBlock + ") must divide the block size "
                    + blockSize);
        }
        double threshold = options.number("threshold", DEFAULT_THRESHOLD, 0, 2);
        boolean subBlockCache = options.bool("use_block_cache", false);
        if (subBlockCache && !(model.card().supports(Capability.STATE_WRITE_AT)
                && model.card().supports(Capability.SEGMENT_MASK))) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "generator '" + NAME + "' with "
                    + "use_block_cache=true writes the sub-block's KV over its cache slots, but the backend of model '"
                    + model.card().name() + "' does not offer STATE_WRITE_AT and SEGMENT_MASK; set use_block_cache "
                    + "to false");
        }
        ConfidenceMetric metric = ConfidenceMetric.named(options.string("confidence", "max_prob"));

        Canvas canvas = new Canvas(context.prompt(), genLength, model.maskTokenId());
        TokenProposer proposer = new TokenProposer(context, model, metric);
        CanvasOutput output = new CanvasOutput(context, sink, canvas);
        Run run = new Run(model, canvas, proposer, output, blockSize, subBlock, threshold, subBlockCache);
        boolean finished = true;
        if (genLength > 0) {
            try (DecodeState state = model.backend().newState(1)) {
                finished = run.decode(state, context);
            }
        }
        Map<String, Object> stats = new LinkedHashMap<>();
        stats.put("strategy", NAME);
        stats.put("threshold", threshold);
        stats.put("block_size", blockSize);
        stats.put("sub_block_size", subBlock);
        stats.put("use_block_cache", subBlockCache);
        stats.put("committed_blocks", run.committedBlocks);
        stats.put("sub_block_forwards", run.subBlockForwards);
        return output.finish(model, !finished, stats);
    }

    private static int blockSize(DiffusionModel model, Options options) {
        if (model.blockCausal()) {
            int b = options.integer("block_size", model.blockSize(), 1, Integer.MAX_VALUE);
            if (b != model.blockSize()) {
                throw ArborException.invalid("option 'block_size' is " + b + ", but model '" + model.card().name()
                        + "' is block-causal with block size " + model.blockSize() + "; leave it out");
            }
            return b;
        }
        return options.integer("block_size", DEFAULT_BIDIRECTIONAL_BLOCK, 1, Integer.MAX_VALUE);
    }

    /** The state of one request's decoding. */
    private static final class Run {
        private final DiffusionModel model;
        private final Canvas canvas;
        private final TokenProposer proposer;
        private final CanvasOutput output;
        private final int blockSize;
        private final int subBlock;
        private final double threshold;
        private final boolean subBlockCache;
        private final boolean next;
        int committedBlocks;
        int subBlockForwards;

        Run(DiffusionModel model, Canvas canvas, TokenProposer proposer, CanvasOutput output, int blockSize,
            int subBlock, double threshold, boolean subBlockCache) {
            this.model = model;
            this.canvas = canvas;
            this.proposer = proposer;
            this.output = output;
            this.blockSize = blockSize;
            this.subBlock = subBlock;
            this.threshold = threshold;
            this.subBlockCache = subBlockCache;
            this.next = model.alignment() == LogitAlignment.NEXT;
        }

        /** Returns false when cancelled. */
        boolean decode(DecodeState state, GenerationContext context) {
            int length = canvas.length();
            int committed = canvas.promptLength() / blockSize * blockSize;
            float[] handOff = null;
            if (committed > 0) {
                handOff = appendBlock(state, 0, committed);
            }
            for (int start = committed; start < length; start += blockSize) {
                int end = Math.min(length, start + blockSize);
                if (next && canvas.isMasked(start)) {
                    if (context.cancellation().isCancelled()) {
                        return false;
                    }
                    // handOff is set: start > 0 here, since position 0 is always prompt.
                    commit(List.of(proposer.propose(start, handOff)));
                }
                boolean blockKv = false;
                for (int sub = start; sub < end; sub += subBlock) {
                    int subEnd = Math.min(end, sub + subBlock);
                    while (canvas.maskedCount(sub, subEnd) > 0) {
                        if (context.cancellation().isCancelled()) {
                            return false;
                        }
                        int[] positions = canvas.maskedPositions(sub, subEnd);
                        float[][] logits;
                        if (subBlockCache && blockKv && !canvas.isMasked(sub)) {
                            logits = subBlockForward(state, start, sub, subEnd, positions);
                        } else {
                            logits = blockForward(state, start, end, positions, subBlockCache);
                            blockKv = subBlockCache;
                        }
                        List<Proposal> proposals = new ArrayList<>(positions.length);
                        for (int i = 0; i < positions.length; i++) {
                            proposals.add(proposer.propose(positions[i], logits[i]));
                        }
                        commit(threshold(proposals));
                    }
                }
                if (subBlockCache && blockKv) {
                    state.truncate(start); // drop the block's (stale) KV; the commit forward writes it afresh
                }
                if (!output.release(end)) {
                    return true;
                }
                if (end < length) {
                    handOff = appendBlock(state, start, end);
                    committedBlocks++;
                }
            }
            return true;
        }

        /** Fast-dLLM's rule: every proposal above the threshold, and always the most confident one. */
        private List<Proposal> threshold(List<Proposal> proposals) {
            Proposal best = proposals.get(0);
            for (Proposal p : proposals) {
                if (p.confidence() > best.confidence()) {
                    best = p;
                }
            }
            List<Proposal> chosen = new ArrayList<>();
            for (Proposal p : proposals) {
                if (p == best || p.confidence() > threshold) {
                    chosen.add(p);
                }
            }
            return chosen;
        }

        private void commit(List<Proposal> chosen) {
            int stamp = output.steps();
            for (Proposal p : chosen) {
                canvas.commit(p.position(), p.token(), stamp);
                proposer.committed(p.token());
                output.record(p);
            }
            output.step();
        }

        /** Appends {@code [from, to)} to the cache (state length must be {@code from}); returns the last row's logits. */
        private float[] appendBlock(DecodeState state, int from, int to) {
            int[] queries = DiffusionModel.range(from, to);
            ForwardRequest request = ForwardRequest.builder(new int[][] {canvas.tokens(from, to)})
                    .positions(new int[][] {queries}).attention(model.attention(DiffusionModel.range(0, to), queries))
                    .state(state).write(StateWrite.APPEND).logitRows(new int[][] {{to - from - 1}}).build();
            return model.checked(model.forward(request).logits()[0], 1)[0];
        }

        /**
         * The whole block over the committed cache: read-only, or (sub-block cache) appending the block's KV after
         * dropping any earlier block KV.
         */
        private float[][] blockForward(DecodeState state, int start, int end, int[] positions, boolean keep) {
            if (state.length() > start) {
                state.truncate(start);
            }
            int[] queries = DiffusionModel.range(start, end);
            ForwardRequest request = ForwardRequest.builder(new int[][] {canvas.tokens(start, end)})
                    .positions(new int[][] {queries}).attention(model.attention(DiffusionModel.range(0, end), queries))
                    .state(state).write(keep ? StateWrite.APPEND : StateWrite.NONE)
                    .logitRows(new int[][] {rows(positions, start)}).build();
            return model.checked(model.forward(request).logits()[0], positions.length);
        }

        /**
         * Only the sub-block {@code [sub, subEnd)}: its slots in the cache are hidden (they are fed again) and then
         * overwritten; the block's other slots are read as they were cached, possibly stale.
         */
        private float[][] subBlockForward(DecodeState state, int start, int sub, int subEnd, int[] positions) {
            int cached = state.length();
            int[] queries = DiffusionModel.range(sub, subEnd);
            int[] keys = new int[cached + queries.length];
            for (int k = 0; k < cached; k++) {
                keys[k] = k >= sub && k < subEnd ? -1 : k;
            }
            System.arraycopy(queries, 0, keys, cached, queries.length);
            ForwardRequest request = ForwardRequest.builder(new int[][] {canvas.tokens(sub, subEnd)})
                    .positions(new int[][] {queries}).attention(model.attention(keys, queries)).state(state)
                    .write(new StateWrite.At(queries)).logitRows(new int[][] {rows(positions, sub)}).build();
            subBlockForwards++;
            return model.checked(model.forward(request).logits()[0], positions.length);
        }

        /** Logit rows, relative to the first fed position {@code first}, that predict {@code positions}. */
        private int[] rows(int[] positions, int first) {
            int[] rows = new int[positions.length];
            for (int i = 0; i < positions.length; i++) {
                rows[i] = model.rowFor(positions[i]) - first;
                if (rows[i] < 0) {
                    throw new IllegalStateException("position " + positions[i] + " is predicted before the fed "
                            + "range starting at " + first);
                }
            }
            return rows;
        }
    }
}
