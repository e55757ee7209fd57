package dev.arbor.testkit;

import dev.arbor.api.model.Capability;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.model.NativeAttention;
import java.util.EnumSet;
import java.util.OptionalInt;
import java.util.Set;

/**
 * A deterministic pseudo language model for loop-logic tests: the next-token logits are a fixed function of the
 * whole visible prefix, computed by chaining a seeded 64-bit hash (SplitMix64's finaliser) over the prefix and then
 * hashing each vocabulary id into a logit in {@code [-logitScale, logitScale]}; the EOS logit, when an EOS id is
 * configured, gets {@code eosBias} added so that tests can make sequences end early or never.
 *
 * <p>It is cheap (no weights) and exact: cached and stateless forwards give bit-identical logits, and
 * {@link #logitsFor} exposes the same function directly so a test can compute an independent reference (for example
 * a hand-rolled greedy loop) without going through any generator. Supports causal attention, left padding, batches
 * and every state operation except {@code StateWrite.At}; {@link Builder#without} removes capabilities so that
 * generators' fallbacks and refusals can be tested. The context limit ({@code maxPositions}) is enforced on the state
 * length plus new tokens, padding included, as a real KV cache would.
 */
public final class ToyCausalBackend extends TokenHistoryBackend {
    /** Everything this backend can do. */
    public static final Set<Capability> ALL_CAPABILITIES = Set.copyOf(EnumSet.of(Capability.PADDING,
            Capability.STATE_TRUNCATE, Capability.STATE_COMPACT, Capability.STATE_FORK,
            Capability.STATE_SELECT_ROWS, Capability.BATCH));

    private static final long GOLDEN = 0x9E3779B97F4A7C15L;

    private final ModelCard card;
    private final long seed;
    private final double logitScale;
    private final OptionalInt eos;
    private final double eosBias;

    private ToyCausalBackend(Builder b) {
        this.seed = b.seed;
        this.logitScale = b.logitScale;
        this.eos = b.eos;
        this.eosBias = b.eosBias;
        this.card = new ModelCard(b.name, b.vocabSize, b.maxPositions, 0, b.bos,
                b.eos.isPresent() ? new int[] {b.eos.getAsInt()} : new int[0], OptionalInt.empty(),
                OptionalInt.empty(), LogitAlignment.NEXT, NativeAttention.CAUSAL, 0, b.capabilities);
    }

    public static Builder builder() {
        return new Builder();
    }

    @Override
    public ModelCard card() {
        return card;
    }

    /** The logits this model gives after {@code history} (the pure function behind every forward). */
    public float[] logitsFor(int... history) {
        if (history.length == 0) {
            throw new IllegalArgumentException("the history must hold at least one token");
        }
        return nextTokenLogits(history, history.length);
    }

    @Override
    protected float[] nextTokenLogits(int[] history, int length) {
        long h = mix(seed ^ GOLDEN);
        for (int i = 0; i < length; i++) {
            // Chaining (rather than summing) makes the hash depend on order as well as content.
            h = mix(h + GOLDEN * (history[i] + 1L));
        }
        float[] logits = new float[card.vocabSize()];
        for (int v = 0; v < logits.length; v++) {
            double u = (mix(h ^ mix(v + 1L)) >>> 11) * 0x1.0p-53;
            logits[v] = (float) (logitScale * (2 * u - 1));
        }
        if (eos.isPresent()) {
            logits[eos.getAsInt()] += (float) eosBias;
        }
        return logits;
    }

    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** Configures a {@link ToyCausalBackend}; every setting has a default. */
    public static final class Builder {
        private String name = "toy";
        private int vocabSize = 16;
        private int maxPositions = 64;
        private long seed;
        private double logitScale = 3.0;
        private OptionalInt eos = OptionalInt.empty();
        private OptionalInt bos = OptionalInt.empty();
        private double eosBias;
        private final EnumSet<Capability> capabilities = EnumSet.copyOf(ALL_CAPABILITIES);

        private Builder() {
        }

        /** Display name in the card (and so in error messages); default {@code toy}. */
        public Builder name(String name) {
            this.name = name;
            return this;
        }

        /** Logits per row; default 16. */
        public Builder vocabSize(int vocabSize) {
            if (vocabSize < 2) {
                throw new IllegalArgumentException("vocabSize must be at least 2, got " + vocabSize);
            }
            this.vocabSize = vocabSize;
            return this;
        }

        /** The context length; default 64. */
        public Builder maxPositions(int maxPositions) {
            if (maxPositions < 1) {
                throw new IllegalArgumentException("maxPositions must be positive, got " + maxPositions);
            }
            this.maxPositions = maxPositions;
            return this;
        }

        /** Selects the function; different seeds give unrelated models. */
        public Builder seed(long seed) {
            this.seed = seed;
            return this;
        }

        /** Logits lie in {@code [-scale, scale]} before the EOS bias; larger is peakier. Default 3. */
        public Builder logitScale(double scale) {
            if (!(scale > 0) || Double.isInfinite(scale)) {
                throw new IllegalArgumentException("logitScale must be positive and finite, got " + scale);
            }
            this.logitScale = scale;
            return this;
        }

        /** Declares {@code id} as EOS in the card and adds {@code bias} to its logit. */
        public Builder eos(int id, double bias) {
            this.eos = OptionalInt.of(id);
            this.eosBias = bias;
            return this;
        }

        /** Declares {@code id} as BOS in the card (the function treats it like any other id). */
        public Builder bos(int id) {
            this.bos = OptionalInt.of(id);
            return this;
        }

        /** Removes capabilities, so that the backend refuses the matching requests and state operations. */
        public Builder without(Capability... removed) {
            for (Capability c : removed) {
                capabilities.remove(c);
            }
            return this;
        }

        public ToyCausalBackend build() {
            checkId(eos, "eos");
            checkId(bos, "bos");
            return new ToyCausalBackend(this);
        }

        private void checkId(OptionalInt id, String what) {
            if (id.isPresent() && (id.getAsInt() < 0 || id.getAsInt() >= vocabSize)) {
                throw new IllegalArgumentException(what + " id " + id.getAsInt() + " is outside the vocabulary [0, "
                        + vocabSize + ")");
            }
        }
    }
}
