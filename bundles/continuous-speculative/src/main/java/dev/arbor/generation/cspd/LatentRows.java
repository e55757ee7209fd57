package dev.arbor.generation.cspd;

import dev.arbor.api.ArborException;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.ContinuousHead;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.EmbeddingAccess;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ForwardResult;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.model.StateWrite;
import dev.arbor.guidance.Guidance;
import java.util.Locale;

/**
 * One continuous-latent prior of one request: its conditional row and, when guidance is on, its unconditional row,
 * with their KV state(s). Inputs are numbered as the sequence: input 0 is the class token (the null class in the
 * unconditional row), input i >= 1 the latent token {@code x_{i−1}} as the embedding {@code Σ_j x_j·E[basis j]}
 * ({@link ContinuousHead.Embedder}); the row of input i (alignment NEXT) is the Gaussian of {@code x_i}.
 * {@link #feed} appends inputs to the state(s) in one forward and returns the guided Gaussians of their rows:
 * classifier-free guidance on a Gaussian head moves the mean, {@code μ = μ_u + w·(μ_c − μ_u)} (the same combine as
 * the logit generators, {@link Guidance#combine}, on the mean columns) and keeps the conditional variance; the
 * temperature τ scales the variance by τ². Not thread-safe: one request owns it.
 */
final class LatentRows implements AutoCloseable {

    /** How the rows are computed. */
    enum Mode {
        /** No guidance: the conditional row alone. */
        NONE,
        /** One state of two rows, one batch-2 forward per feed (the backend lists BATCH). */
        BATCH,
        /** Two single-row states, two forwards per feed (backends without BATCH). */
        TWO_STATES;

        String wireName() {
            return name().toLowerCase(Locale.ROOT);
        }

        /** The mode for {@code guidance} on {@code card}. */
        static Mode of(Guidance guidance, ModelCard card) {
            return guidance.inert() ? NONE : card.supports(Capability.BATCH) ? BATCH : TWO_STATES;
        }
    }

    private final ModelBackend model;
    private final ModelCard card;
    private final ContinuousHead head;
    private final ContinuousHead.Embedder embedder;
    private final float[] condFirst;
    private final float[] uncondFirst;
    private final Mode mode;
    private final Guidance guidance;
    private final int steps;
    private final double varianceScale;
    private DecodeState cond;
    private DecodeState uncond;
    private int length;
    private int forwards;

    /**
     * @param steps       the image's latent tokens (the guidance ramp runs over them)
     * @param temperature τ of {@code x = μ + τ·σ·ε}
     */
    LatentRows(ModelBackend model, EmbeddingAccess embeddings, Mode mode, int classToken, int nullClassToken,
               Guidance guidance, int steps, double temperature) {
        this.model = model;
        this.card = model.card();
        this.head = card.continuousHead();
        this.embedder = head.embedder(embeddings);
        this.condFirst = embeddings.embedding(classToken);
        this.uncondFirst = embeddings.embedding(nullClassToken);
        this.mode = mode;
        this.guidance = guidance;
        this.steps = steps;
        this.varianceScale = temperature * temperature;
        this.cond = model.newState(mode == Mode.BATCH ? 2 : 1);
        if (mode == Mode.TWO_STATES) {
            this.uncond = model.newState(1);
        }
    }

    Mode mode() {
        return mode;
    }

    /** Backend forward calls so far (a batch-2 call counts once). */
    int forwards() {
        return forwards;
    }

    /** Inputs held by the state(s). */
    int length() {
        return length;
    }

    /**
     * Appends inputs {@code length() .. length() + count − 1} in one forward — the class token when the state is
     * empty, then the latent tokens {@code latents} (one per further input; {@code latents[k]} is input
     * {@code length() + k + (empty ? 1 : 0)}) — and returns the guided Gaussians of their rows, i.e. of latent
     * positions {@code length() .. length() + count − 1} (positions at or past {@code tokens}, which no row
     * predicts, are not requested by callers).
     */
    DiagonalGaussian[] feed(float[]... latents) {
        boolean first = length == 0;
        int count = latents.length + (first ? 1 : 0);
        if (count == 0) {
            throw new IllegalArgumentException("a forward needs at least one input");
        }
        int width = embedder.width();
        float[][][] in = new float[mode == Mode.NONE ? 1 : 2][count][];
        for (int b = 0; b < in.length; b++) {
            int k = 0;
            if (first) {
                in[b][k++] = (b == 0 ? condFirst : uncondFirst).clone();
            }
            for (float[] x : latents) {
                float[] e = new float[width];
                embedder.add(x, 0, e);
                in[b][k++] = e;
            }
        }
        float[][][] rows = switch (mode) {
            case TWO_STATES -> new float[][][] {forward(new float[][][] {in[0]}, cond)[0],
                    forward(new float[][][] {in[1]}, uncond)[0]};
            default -> forward(in, cond);
        };
        DiagonalGaussian[] out = new DiagonalGaussian[count];
        int dim = head.dim();
        float[] c = new float[head.width()];
        float[] u = new float[head.width()];
        for (int r = 0; r < count; r++) {
            int position = length + r;
            head.read(rows[0][r], c);
            DiagonalGaussian g = DiagonalGaussian.fromHead(c, dim, card.name());
            if (mode != Mode.NONE) {
                head.read(rows[1][r], u);
                float[] guided = guidance.combine(java.util.Arrays.copyOf(c, dim), java.util.Arrays.copyOf(u, dim),
                        position, steps, card.name());
                double[] mean = new double[dim];
                for (int j = 0; j < dim; j++) {
                    mean[j] = guided[j];
                }
                g = g.withMean(mean);
            }
            out[r] = varianceScale == 1.0 ? g : g.withVarianceScale(varianceScale);
        }
        length += count;
        return out;
    }

    /** Keeps the first {@code newLength} inputs (a rejected draft suffix leaves the state). */
    void truncate(int newLength) {
        if (newLength < 0 || newLength > length) {
            throw new IllegalArgumentException("truncate to " + newLength + " of " + length + " inputs");
        }
        if (newLength == length) {
            return;
        }
        cond.truncate(newLength);
        if (uncond != null) {
            uncond.truncate(newLength);
        }
        length = newLength;
    }

    private float[][][] forward(float[][][] inputs, DecodeState state) {
        ForwardResult result = model.forward(ForwardRequest.builderForEmbeddings(inputs).state(state)
                .write(StateWrite.APPEND).build());
        forwards++;
        float[][][] logits = result.logits();
        int count = inputs[0].length;
        if (logits == null || logits.length != inputs.length) {
            throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, card.name() + " returned "
                    + (logits == null ? "no" : logits.length) + " logit batches for " + inputs.length + " rows");
        }
        for (float[][] rows : logits) {
            if (rows == null || rows.length != count) {
                throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, card.name() + " returned "
                        + (rows == null ? "no" : rows.length) + " logit rows for " + count + " inputs");
            }
            for (float[] row : rows) {
                if (row == null || row.length < head.outputOffset() + head.width()) {
                    throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, card.name() + " returned a logit "
                            + "row of " + (row == null ? 0 : row.length) + " columns; its Gaussian head needs "
                            + (head.outputOffset() + head.width()));
                }
            }
        }
        return logits;
    }

    @Override
    public void close() {
        DecodeState c = cond;
        DecodeState u = uncond;
        cond = null;
        uncond = null;
        try {
            if (u != null) {
                u.close();
            }
        } finally {
            if (c != null) {
                c.close();
            }
        }
    }
}
