package dev.arbor.testkit;

import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ForwardResult;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.model.NativeAttention;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A backend that forwards everything to another but shows a different {@link ModelCard}: a causal test transformer
 * presented as a masked-diffusion LM (MASK id, alignment, native attention, block size), so decoders' cache paths
 * can be checked against recompute on a real transformer whose stale keys really differ (the approximate-cache
 * measurements of METHODS.md §3.4/§3.5). The network is not trained for masked decoding: its text is meaningless,
 * its numbers are real. Counts forward calls.
 */
public final class CardOverrideBackend implements ModelBackend {
    private final ModelBackend inner;
    private final ModelCard card;
    private final AtomicInteger forwards = new AtomicInteger();

    public CardOverrideBackend(ModelBackend inner, ModelCard card) {
        this.inner = inner;
        this.card = card;
    }

    /** {@code inner} presented as a diffusion LM with the given MASK id, alignment, attention and block size. */
    public static CardOverrideBackend asDiffusion(ModelBackend inner, int maskTokenId, LogitAlignment alignment,
                                                  NativeAttention attention, int blockSize) {
        ModelCard c = inner.card();
        ModelCard card = new ModelCard(c.name() + "-as-" + attention.name().toLowerCase(java.util.Locale.ROOT),
                c.vocabSize(), c.maxPositions(), c.hiddenSize(), c.bosTokenId(), c.eosTokenIds(), c.padTokenId(),
                OptionalInt.of(maskTokenId), alignment, attention, blockSize, c.capabilities());
        return new CardOverrideBackend(inner, card);
    }

    /** Forward calls so far. */
    public int forwardCalls() {
        return forwards.get();
    }

    @Override
    public ModelCard card() {
        return card;
    }

    @Override
    public DecodeState newState(int batchSize) {
        return inner.newState(batchSize);
    }

    @Override
    public ForwardResult forward(ForwardRequest request) {
        forwards.incrementAndGet();
        return inner.forward(request);
    }

    @Override
    public <T> Optional<T> extension(Class<T> type) {
        return inner.extension(type);
    }

    @Override
    public void close() {
        inner.close();
    }
}
