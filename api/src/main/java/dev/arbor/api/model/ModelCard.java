package dev.arbor.api.model;

import java.util.Arrays;
import java.util.EnumSet;
import java.util.Objects;
import java.util.OptionalInt;
import java.util.Set;

/**
 * Static facts about a loaded model and the capability flags of the backend running it.
 *
 * @param name            a display name (file name or configured id)
 * @param vocabSize       logits per row
 * @param maxPositions    the context length; longer inputs are refused
 * @param hiddenSize      width of hidden states (0 when unknown)
 * @param bosTokenId      beginning-of-sequence id, if any
 * @param eosTokenIds     ids that end a sequence
 * @param padTokenId      padding id, if any
 * @param maskTokenId     MASK id of diffusion LMs, if any
 * @param alignment       which position a logit row predicts
 * @param nativeAttention the attention the model was trained with
 * @param blockSize       block size of block-causal models (0 otherwise)
 * @param capabilities    what the backend supports for this model
 * @param outputHeads     heads per logits row (Token-Shuffle's s² unshuffle heads): a row of {@code vocabSize} logits is
 *                        {@code outputHeads} consecutive slices of {@link #headVocabSize()} logits, head h predicting
 *                        the h-th token of a merged window; 1 for ordinary models
 * @param continuousHead  the continuous output head laid over the logits columns (xAR velocities, MAR/CSpD Gaussian
 *                        parameters), or null for models that only emit token logits
 */
public record ModelCard(String name, int vocabSize, int maxPositions, int hiddenSize,
                        OptionalInt bosTokenId, int[] eosTokenIds, OptionalInt padTokenId, OptionalInt maskTokenId,
                        LogitAlignment alignment, NativeAttention nativeAttention, int blockSize,
                        Set<Capability> capabilities, int outputHeads, ContinuousHead continuousHead) {

    public ModelCard {
        Objects.requireNonNull(name, "name");
        if (vocabSize <= 0) {
            throw new IllegalArgumentException("vocabSize must be positive, got " + vocabSize);
        }
        if (outputHeads <= 0 || vocabSize % outputHeads != 0) {
            throw new IllegalArgumentException("outputHeads must be positive and divide the vocabulary (" + vocabSize
                    + "), got " + outputHeads);
        }
        if (continuousHead != null && continuousHead.maxId() > vocabSize) {
            throw new IllegalArgumentException("the continuous head " + continuousHead + " needs " + continuousHead.maxId()
                    + " logits columns and input ids, but the model has " + vocabSize);
        }
        eosTokenIds = eosTokenIds == null ? new int[0] : eosTokenIds.clone();
        bosTokenId = bosTokenId == null ? OptionalInt.empty() : bosTokenId;
        padTokenId = padTokenId == null ? OptionalInt.empty() : padTokenId;
        maskTokenId = maskTokenId == null ? OptionalInt.empty() : maskTokenId;
        alignment = alignment == null ? LogitAlignment.NEXT : alignment;
        nativeAttention = nativeAttention == null ? NativeAttention.CAUSAL : nativeAttention;
        capabilities = capabilities == null || capabilities.isEmpty()
                ? Set.of() : Set.copyOf(EnumSet.copyOf(capabilities));
    }

    /** A card of an ordinary model: one output head, no continuous head. */
    public ModelCard(String name, int vocabSize, int maxPositions, int hiddenSize,
                     OptionalInt bosTokenId, int[] eosTokenIds, OptionalInt padTokenId, OptionalInt maskTokenId,
                     LogitAlignment alignment, NativeAttention nativeAttention, int blockSize,
                     Set<Capability> capabilities) {
        this(name, vocabSize, maxPositions, hiddenSize, bosTokenId, eosTokenIds, padTokenId, maskTokenId, alignment,
                nativeAttention, blockSize, capabilities, 1, null);
    }

    /** This card with the given output heads and continuous head (what a model file's sidecar declares). */
    public ModelCard withHeads(int heads, ContinuousHead continuous) {
        return new ModelCard(name, vocabSize, maxPositions, hiddenSize, bosTokenId, eosTokenIds, padTokenId,
                maskTokenId, alignment, nativeAttention, blockSize, capabilities, heads, continuous);
    }

    /** Logits per output head: {@code vocabSize / outputHeads}. */
    public int headVocabSize() {
        return vocabSize / outputHeads;
    }

    public boolean supports(Capability capability) {
        return capabilities.contains(capability);
    }

    public boolean isEos(int token) {
        for (int e : eosTokenIds) {
            if (e == token) {
                return true;
            }
        }
        return false;
    }

    @Override
    public int[] eosTokenIds() {
        return eosTokenIds.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ModelCard c && c.name.equals(name) && c.vocabSize == vocabSize
                && c.maxPositions == maxPositions && Arrays.equals(c.eosTokenIds, eosTokenIds)
                && c.capabilities.equals(capabilities) && c.outputHeads == outputHeads
                && Objects.equals(c.continuousHead, continuousHead);
    }

    @Override
    public int hashCode() {
        return Objects.hash(name, vocabSize, maxPositions, capabilities);
    }

    @Override
    public String toString() {
        return "ModelCard[" + name + ", vocab=" + vocabSize + ", context=" + maxPositions + ", " + alignment
                + ", " + nativeAttention + ", " + capabilities + (outputHeads > 1 ? ", heads=" + outputHeads : "")
                + (continuousHead != null ? ", " + continuousHead : "") + "]";
    }
}
