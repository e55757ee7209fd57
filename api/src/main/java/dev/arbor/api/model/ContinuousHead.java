package dev.arbor.api.model;

import java.util.Objects;

/**
 * A continuous-token head laid over a model's logits columns, and the matching continuous input, for priors over
 * continuous latents (xAR's flow-matching velocity head, MAR/CSpD's per-token Gaussian head). The model stays an
 * ordinary decoder: the head's outputs are the logits columns {@code [outputOffset, outputOffset + width())}, and a
 * continuous token x (plus, for flows, the time t) enters as the input embedding
 * {@code Σ_j x_j·E[basisOffset + j] + E_t} where {@code E_t} interpolates linearly between the two time ids nearest
 * to {@code t·(timeSteps − 1)} (a learned time embedding expressed in the model's own embedding table, as VAR's
 * feature inputs are). The backend needs {@link Capability#INPUT_EMBEDS} for continuous inputs.
 *
 * @param dim          width D of a continuous token
 * @param kind         what the head emits
 * @param outputOffset first logits column of the head
 * @param basisOffset  first of the D input-basis ids
 * @param timeOffset   first of the time ids, or -1 when the head takes no time (Gaussian heads)
 * @param timeSteps    number of time ids (0 when {@code timeOffset} is -1, else at least 2)
 */
public record ContinuousHead(int dim, Kind kind, int outputOffset, int basisOffset, int timeOffset, int timeSteps) {

    /** What the head's columns hold. */
    public enum Kind {
        /** D columns: the flow-matching velocity {@code dx/dt} of the input token at its time. */
        VELOCITY,
        /** 2D columns: the mean of the next token's Gaussian, then its log-variance (per dimension). */
        GAUSSIAN
    }

    public ContinuousHead {
        Objects.requireNonNull(kind, "kind");
        if (dim <= 0 || outputOffset < 0 || basisOffset < 0) {
            throw new IllegalArgumentException("a continuous head needs dim > 0 and non-negative offsets, got dim "
                    + dim + ", output " + outputOffset + ", basis " + basisOffset);
        }
        if (timeOffset < 0 ? timeSteps != 0 : timeSteps < 2) {
            throw new IllegalArgumentException("time ids: give timeOffset -1 with timeSteps 0 (no time input), or a "
                    + "timeOffset >= 0 with at least 2 timeSteps; got " + timeOffset + " and " + timeSteps);
        }
    }

    /**
     * The head as one line, {@code KIND:dim:outputOffset:basisOffset:timeOffset:timeSteps} (model metadata, e.g.
     * {@code VELOCITY:16:0:528:544:33}); {@link #parse} reads it back.
     */
    public String spec() {
        return kind + ":" + dim + ":" + outputOffset + ":" + basisOffset + ":" + timeOffset + ":" + timeSteps;
    }

    /** The head of a {@link #spec()} line; an {@code IllegalArgumentException} naming the expected form otherwise. */
    public static ContinuousHead parse(String spec) {
        String[] f = spec == null ? new String[0] : spec.strip().split(":");
        try {
            if (f.length == 6) {
                return new ContinuousHead(Integer.parseInt(f[1]), Kind.valueOf(f[0].toUpperCase(java.util.Locale.ROOT)),
                        Integer.parseInt(f[2]), Integer.parseInt(f[3]), Integer.parseInt(f[4]),
                        Integer.parseInt(f[5]));
            }
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("continuous head '" + spec + "': " + e.getMessage()
                    + "; expected KIND:dim:outputOffset:basisOffset:timeOffset:timeSteps with KIND VELOCITY or GAUSSIAN",
                    e);
        }
        throw new IllegalArgumentException("continuous head '" + spec + "' must be "
                + "KIND:dim:outputOffset:basisOffset:timeOffset:timeSteps with KIND VELOCITY or GAUSSIAN");
    }

    /** Columns the head occupies: D for a velocity head, 2D (mean, log-variance) for a Gaussian head. */
    public int width() {
        return kind == Kind.GAUSSIAN ? 2 * dim : dim;
    }

    /** One past the largest id or column the head uses; the model's vocabulary must be at least this large. */
    public int maxId() {
        int max = Math.max(outputOffset + width(), basisOffset + dim);
        return timeOffset < 0 ? max : Math.max(max, timeOffset + timeSteps);
    }

    /** Copies the head's {@link #width()} columns of {@code logitsRow} into {@code dst} and returns it. */
    public float[] read(float[] logitsRow, float[] dst) {
        System.arraycopy(logitsRow, outputOffset, dst, 0, width());
        return dst;
    }

    /** The embedder of continuous inputs for a backend's embedding table (rows fetched once). */
    public Embedder embedder(EmbeddingAccess embeddings) {
        return new Embedder(this, embeddings);
    }

    /** Adds continuous inputs to input embeddings. Immutable once built; thread-safe. */
    public static final class Embedder {
        private final ContinuousHead head;
        private final float[][] basis;
        private final float[][] time;
        private final int width;

        private Embedder(ContinuousHead head, EmbeddingAccess embeddings) {
            this.head = head;
            this.width = embeddings.embeddingSize();
            this.basis = new float[head.dim][];
            for (int j = 0; j < head.dim; j++) {
                basis[j] = embeddings.embedding(head.basisOffset + j);
            }
            this.time = new float[head.timeSteps][];
            for (int i = 0; i < head.timeSteps; i++) {
                time[i] = embeddings.embedding(head.timeOffset + i);
            }
        }

        /** Embedding width. */
        public int width() {
            return width;
        }

        /**
         * Adds {@code Σ_j x_j·E[basis j]} and, for a head with time ids, the time embedding of {@code t} (clamped to
         * [0, 1]) to {@code dst} (length {@link #width()}); {@code x} has {@link ContinuousHead#dim()} values.
         */
        public void add(float[] x, double t, float[] dst) {
            if (x.length != head.dim || dst.length != width) {
                throw new IllegalArgumentException("continuous input of " + x.length + " values into an embedding of "
                        + dst.length + ", expected " + head.dim + " and " + width);
            }
            for (int j = 0; j < head.dim; j++) {
                float v = x[j];
                float[] row = basis[j];
                for (int i = 0; i < width; i++) {
                    dst[i] += v * row[i];
                }
            }
            if (time.length > 0) {
                double pos = Math.max(0, Math.min(1, t)) * (time.length - 1);
                int lo = (int) Math.floor(pos);
                int hi = Math.min(lo + 1, time.length - 1);
                float w = (float) (pos - lo);
                for (int i = 0; i < width; i++) {
                    dst[i] += (1 - w) * time[lo][i] + w * time[hi][i];
                }
            }
        }
    }
}
