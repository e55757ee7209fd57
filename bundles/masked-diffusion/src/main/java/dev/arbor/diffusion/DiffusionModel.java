package dev.arbor.diffusion;

import dev.arbor.api.ArborException;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.model.AttentionSpec;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ForwardResult;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.model.NativeAttention;

/**
 * A masked-diffusion LM as decoders see it: the backend, the facts its card gives (MASK id, logit alignment, native
 * attention, block size), the attention spec that matches how it was trained, and a count of forward passes.
 *
 * <p>Attention: a {@link NativeAttention#BIDIRECTIONAL} model gets {@link AttentionSpec.Full}; a
 * {@link NativeAttention#BLOCK_CAUSAL} model gets {@link AttentionSpec.Segments} with segment
 * {@code position / blockSize} for every key and query, so completed blocks are a causal prefix and the current
 * block is bidirectional. Blocks are counted from position 0 of the canvas (the prompt included), as block-diffusion
 * models are trained; so the first generated block may share a block with the prompt's tail.
 *
 * <p>Logit rows: the row for position {@code p} is {@link LogitAlignment#rowFor}{@code (p)} ({@code p} under SAME,
 * {@code p-1} under NEXT), so every decoder handles both alignments the same way. Not thread-safe (one per request).
 */
public final class DiffusionModel {
    private final ModelBackend backend;
    private final ModelCard card;
    private final int maskTokenId;
    private final boolean blockCausal;
    private final int blockSize;
    private int forwardPasses;
    private long forwardTokens;

    private DiffusionModel(ModelBackend backend) {
        this.backend = backend;
        this.card = backend.card();
        this.maskTokenId = card.maskTokenId().getAsInt();
        this.blockCausal = card.nativeAttention() == NativeAttention.BLOCK_CAUSAL;
        this.blockSize = card.blockSize();
    }

    /**
     * Checks that {@code backend} serves a masked-diffusion LM that {@code generator} can decode, refusing with a
     * message naming both otherwise: a causal model, a card without a MASK id, a block-causal card without a block
     * size, or a backend without the attention the model needs.
     */
    public static DiffusionModel of(ModelBackend backend, String generator) {
        ModelCard card = backend.card();
        if (card.nativeAttention() == NativeAttention.CAUSAL) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "generator '" + generator + "' decodes "
                    + "masked-diffusion LMs, but model '" + card.name() + "' is a causal LM (its card says native "
                    + "attention CAUSAL); use a diffusion LM whose card gives a mask token and BIDIRECTIONAL or "
                    + "BLOCK_CAUSAL attention, or an autoregressive generator for this model");
        }
        if (card.nativeAttention() == NativeAttention.SCALE_CAUSAL) {
            // Not bidirectional: a next-scale image prior's scales see only earlier scales, so Full attention (the
            // branch below) would let every token see the future scales it was never trained to see.
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "generator '" + generator + "' decodes "
                    + "masked-diffusion LMs, but model '" + card.name() + "' is a next-scale image prior (its card "
                    + "says native attention SCALE_CAUSAL); use the next-scale generator for it, or a diffusion LM "
                    + "whose card gives a mask token and BIDIRECTIONAL or BLOCK_CAUSAL attention");
        }
        if (card.maskTokenId().isEmpty()) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "generator '" + generator + "' needs the "
                    + "MASK token id of model '" + card.name() + "', but its card gives none; add mask_token_id to "
                    + "the model's card (sidecar)");
        }
        int mask = card.maskTokenId().getAsInt();
        if (mask < 0 || mask >= card.vocabSize()) {
            throw new ArborException(ArborException.Kind.BAD_MODEL, "model '" + card.name() + "' gives MASK id "
                    + mask + ", outside its vocabulary [0, " + card.vocabSize() + ")");
        }
        if (card.nativeAttention() == NativeAttention.BLOCK_CAUSAL) {
            if (card.blockSize() <= 0) {
                throw new ArborException(ArborException.Kind.BAD_MODEL, "model '" + card.name() + "' is "
                        + "BLOCK_CAUSAL but its card gives no block size");
            }
            require(card, Capability.SEGMENT_MASK, generator, "block-causal attention (AttentionSpec.Segments)");
        } else {
            require(card, Capability.FULL_ATTENTION, generator, "bidirectional attention (AttentionSpec.Full)");
        }
        return new DiffusionModel(backend);
    }

    private static void require(ModelCard card, Capability capability, String generator, String what) {
        if (!card.supports(capability)) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "generator '" + generator + "' needs "
                    + what + " for model '" + card.name() + "', but its backend does not offer " + capability);
        }
    }

    public ModelBackend backend() {
        return backend;
    }

    public ModelCard card() {
        return card;
    }

    public int maskTokenId() {
        return maskTokenId;
    }

    public LogitAlignment alignment() {
        return card.alignment();
    }

    /** True for block-causal (block-diffusion) models. */
    public boolean blockCausal() {
        return blockCausal;
    }

    /** The model's block size (0 for bidirectional models). */
    public int blockSize() {
        return blockSize;
    }

    /** Forward passes made through this object. */
    public int forwardPasses() {
        return forwardPasses;
    }

    /** New tokens fed over all forward passes. */
    public long forwardTokens() {
        return forwardTokens;
    }

    /**
     * True when the first position of the block starting at {@code blockStart} must be decoded alone, before the
     * rest of the block: under NEXT alignment a block-causal model predicts a block's first position from the last
     * row of the previous block, which cannot see the current block, so decoding it later would ignore what the
     * block already holds. Decoding it first, from the completed previous block, is exact; it is Fast-dLLM v2's
     * autoregressive hand-off between blocks (METHODS.md §3.4).
     */
    public boolean handOff(Canvas canvas, int blockStart) {
        return blockCausal && card.alignment() == LogitAlignment.NEXT && blockStart % blockSize == 0
                && blockStart > 0 && canvas.isMasked(blockStart);
    }

    /** Runs one forward and counts it; every decoder's forwards go through here. */
    public ForwardResult forward(ForwardRequest request) {
        ForwardResult result = backend.forward(request);
        forwardPasses++;
        forwardTokens += (long) request.batchSize() * request.queryLength();
        return result;
    }

    /**
     * The attention for a forward whose keys are absolute positions {@code 0..keyCount-1} (state slots, then the
     * new tokens) and whose queries are positions {@code queryStart..queryStart+queryCount-1}.
     */
    public AttentionSpec attention(int keyCount, int queryStart, int queryCount) {
        if (!blockCausal) {
            return AttentionSpec.FULL;
        }
        int[] query = new int[queryCount];
        for (int q = 0; q < queryCount; q++) {
            query[q] = (queryStart + q) / blockSize;
        }
        int[] key = new int[keyCount];
        for (int k = 0; k < keyCount; k++) {
            key[k] = k / blockSize;
        }
        return new AttentionSpec.Segments(new int[][] {query}, new int[][] {key});
    }

    /**
     * The attention for keys at {@code keyPositions} (state slots, then new tokens; -1 marks a key no query may see,
     * such as a stale cache slot whose token is fed again) and queries at {@code queryPositions}: every visible key
     * for a bidirectional model, the block-causal rule by position for a block-causal one. Hidden keys need
     * {@link Capability#SEGMENT_MASK} (they are expressed as a segment no query reaches).
     */
    public AttentionSpec attention(int[] keyPositions, int[] queryPositions) {
        boolean hidden = false;
        for (int k : keyPositions) {
            hidden |= k < 0;
        }
        if (!blockCausal && !hidden) {
            return AttentionSpec.FULL;
        }
        if (!card.supports(Capability.SEGMENT_MASK)) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "this cache needs to hide stale cache "
                    + "slots, which takes AttentionSpec.Segments, but the backend of model '" + card.name()
                    + "' does not offer SEGMENT_MASK; turn the cache option off");
        }
        int[] key = new int[keyPositions.length];
        for (int k = 0; k < key.length; k++) {
            key[k] = keyPositions[k] < 0 ? Integer.MAX_VALUE : blockCausal ? keyPositions[k] / blockSize : 0;
        }
        int[] query = new int[queryPositions.length];
        for (int q = 0; q < query.length; q++) {
            query[q] = blockCausal ? queryPositions[q] / blockSize : 0;
        }
        return new AttentionSpec.Segments(new int[][] {query}, new int[][] {key});
    }

    /** {@code from, from+1, ..., to-1}. */
    public static int[] range(int from, int to) {
        int[] r = new int[Math.max(0, to - from)];
        for (int i = 0; i < r.length; i++) {
            r[i] = from + i;
        }
        return r;
    }

    /** The logit row that predicts {@code position}; refuses position 0 under NEXT alignment (nothing predicts it). */
    public int rowFor(int position) {
        int row = card.alignment().rowFor(position);
        if (row < 0) {
            throw ArborException.invalid("model '" + card.name() + "' predicts position p from row p-1 (NEXT "
                    + "alignment), so the prompt must not be empty");
        }
        return row;
    }

    /**
     * A stateless forward of the canvas returning, for each of {@code positions}, the logits that predict it. A
     * block-causal model is fed only up to the end of the last block a needed row lies in (later blocks cannot be
     * seen by those rows); a bidirectional one is fed the whole canvas, later MASK tokens included, as LLaDA does.
     */
    public float[][] canvasLogits(Canvas canvas, int[] positions) {
        int[] rows = new int[positions.length];
        int maxRow = 0;
        for (int i = 0; i < positions.length; i++) {
            rows[i] = rowFor(positions[i]);
            maxRow = Math.max(maxRow, rows[i]);
        }
        int end = blockCausal ? Math.min(canvas.length(), (maxRow / blockSize + 1) * blockSize) : canvas.length();
        ForwardRequest request = ForwardRequest.builder(new int[][] {canvas.tokens(0, end)})
                .attention(attention(end, 0, end)).logitRows(new int[][] {rows}).build();
        return checked(forward(request).logits()[0], positions.length);
    }

    /**
     * The generation length of a request: the least of {@link GenerationContext#maxNewTokens()}, the option
     * {@code max_new_tokens} (which can only lower it) and the room the context leaves after the prompt. Refuses an
     * empty prompt, one that fills the context, and ids outside the vocabulary or equal to MASK.
     */
    public int budget(GenerationContext context) {
        int[] prompt = context.prompt();
        if (prompt.length == 0) {
            throw ArborException.invalid("the prompt is empty; start it with BOS"
                    + (card.bosTokenId().isPresent() ? " (id " + card.bosTokenId().getAsInt() + ")" : "")
                    + " so that model '" + card.name() + "' has a position to condition on");
        }
        if (prompt.length >= card.maxPositions()) {
            throw ArborException.invalid("prompt has " + prompt.length + " tokens but " + card.name()
                    + "'s context is " + card.maxPositions() + "; shorten the prompt to at most "
                    + (card.maxPositions() - 1) + " tokens to leave room for generation");
        }
        for (int i = 0; i < prompt.length; i++) {
            if (prompt[i] < 0 || prompt[i] >= card.vocabSize() || prompt[i] == maskTokenId) {
                throw ArborException.invalid("prompt token " + i + " has id " + prompt[i] + ", outside "
                        + card.name() + "'s vocabulary [0, " + card.vocabSize() + ") or the MASK id "
                        + maskTokenId);
            }
        }
        int cap = context.options().integer("max_new_tokens", Integer.MAX_VALUE, 0, Integer.MAX_VALUE);
        return Math.min(Math.min(context.maxNewTokens(), cap), card.maxPositions() - prompt.length);
    }

    /** Refuses a result with the wrong number or width of rows (a backend bug that would otherwise decode wrongly). */
    public float[][] checked(float[][] logits, int expectedRows) {
        if (logits == null || logits.length != expectedRows) {
            throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, card.name() + " returned "
                    + (logits == null ? "no" : logits.length) + " logit rows, expected " + expectedRows);
        }
        for (float[] row : logits) {
            if (row == null || row.length != card.vocabSize()) {
                throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, card.name() + " returned a logit row of "
                        + (row == null ? 0 : row.length) + " entries, but its card says " + card.vocabSize());
            }
        }
        return logits;
    }

    /**
     * The decoding blocks of the generation region, as {@code [start, end)} pairs. Bidirectional models: blocks of
     * {@code blockLength} from the prompt's end (LLaDA's semi-autoregressive blocks; the last may be shorter).
     * Block-causal models: the model's own blocks (boundaries at multiples of its block size), which
     * {@code blockLength} must equal (0 = the model's).
     */
    public int[][] blocks(Canvas canvas, int blockLength) {
        int from = canvas.promptLength();
        int to = canvas.length();
        int step;
        int first;
        if (blockCausal) {
            if (blockLength != 0 && blockLength != blockSize) {
                throw ArborException.invalid("option 'block_length' is " + blockLength + ", but model '"
                        + card.name() + "' is block-causal with block size " + blockSize
                        + "; leave block_length out or set it to " + blockSize);
            }
            step = blockSize;
            first = Math.min(to, (from / blockSize + 1) * blockSize);
        } else {
            step = blockLength <= 0 ? Math.max(1, to - from) : blockLength;
            first = Math.min(to, from + step);
        }
        java.util.List<int[]> blocks = new java.util.ArrayList<>();
        int start = from;
        int end = first;
        while (start < to) {
            blocks.add(new int[] {start, end});
            start = end;
            end = Math.min(to, end + step);
        }
        return blocks.toArray(new int[0][]);
    }
}
