package dev.arbor.generation.grouped;

import dev.arbor.api.model.Capability;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.EmbeddingAccess;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ForwardResult;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelCard;
import java.util.EnumSet;

/**
 * A test backend wrapper that adds {@link EmbeddingAccess} with fixed vectors to any backend (the testkit's toy
 * backends have no embedding table) and lists {@link Capability#EMBEDDING_MATRIX} in its card.
 */
final class EmbeddedJoint implements ModelBackend, EmbeddingAccess {
    private final ModelBackend delegate;
    private final float[][] vectors;
    private final ModelCard card;

    EmbeddedJoint(ModelBackend delegate, float[][] vectors) {
        this.delegate = delegate;
        this.vectors = vectors;
        ModelCard c = delegate.card();
        EnumSet<Capability> caps = EnumSet.of(Capability.EMBEDDING_MATRIX);
        caps.addAll(c.capabilities());
        this.card = new ModelCard(c.name() + "+embeddings", c.vocabSize(), c.maxPositions(), c.hiddenSize(),
                c.bosTokenId(), c.eosTokenIds(), c.padTokenId(), c.maskTokenId(), c.alignment(),
                c.nativeAttention(), c.blockSize(), caps);
    }

    /** Every token at the same point: groups are limited by the probability threshold and the ranks only. */
    static float[][] allEqual(int vocab) {
        return new float[vocab][2];
    }

    /** Token i at (i, 0): squared distances are squares of id differences. */
    static float[][] onALine(int vocab) {
        float[][] v = new float[vocab][];
        for (int i = 0; i < vocab; i++) {
            v[i] = new float[] {i, 0};
        }
        return v;
    }

    @Override
    public ModelCard card() {
        return card;
    }

    @Override
    public DecodeState newState(int batchSize) {
        return delegate.newState(batchSize);
    }

    @Override
    public ForwardResult forward(ForwardRequest request) {
        return delegate.forward(request);
    }

    @Override
    public float[] embedding(int tokenId) {
        return vectors[tokenId].clone();
    }

    @Override
    public int embeddingSize() {
        return vectors[0].length;
    }

    @Override
    public void close() {
        delegate.close();
    }
}
