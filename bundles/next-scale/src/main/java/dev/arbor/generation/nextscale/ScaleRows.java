package dev.arbor.generation.nextscale;

import dev.arbor.api.ArborException;
import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.model.AttentionSpec;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ForwardResult;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.model.StateWrite;
import dev.arbor.autoregressive.DecodeChecks;
import java.util.Arrays;
import java.util.Locale;

/**
 * The conditional row and, when guidance is on, the unconditional row of one next-scale image, with their KV
 * state(s): {@link #scale} runs the forward of one scale (its inputs appended to the state(s) with the scale's
 * {@link ScaleSegments} mask) and returns every position's logits for both rows (checked copies). Scale 0's input is
 * the class token (the null class for the unconditional row) repeated over the scale's cells (VAR's
 * {@code sos.expand(first_l)}; one cell in VAR's layouts); later scales take the same input embeddings in both rows
 * (VAR doubles {@code next_token_map}). Not thread-safe: one request owns it.
 */
final class ScaleRows implements AutoCloseable {

    /** How the rows are computed. */
    enum Mode {
        /** No guidance: the conditional row alone, one forward per scale. */
        NONE,
        /** One state of two rows, one batch-2 forward per scale (the backend lists BATCH). */
        BATCH,
        /** Two single-row states, two forwards per scale (backends without BATCH). */
        TWO_STATES;

        String wireName() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    private final ModelBackend model;
    private final ModelCard card;
    private final ImageLayout layout;
    private final Mode mode;
    private final int condToken;
    private final int uncondToken;
    private DecodeState cond;
    private DecodeState uncond;
    private int forwards;

    ScaleRows(ModelBackend model, ImageLayout layout, Mode mode, int condToken, int uncondToken) {
        this.model = model;
        this.card = model.card();
        this.layout = layout;
        this.mode = mode;
        this.condToken = condToken;
        this.uncondToken = uncondToken;
    }

    Mode mode() {
        return mode;
    }

    /** Backend forward calls so far (a batch-2 call counts once). */
    int forwards() {
        return forwards;
    }

    /**
     * The logits of scale {@code k}'s {@code side(k)²} positions: {@code [0]} conditional, {@code [1]}
     * unconditional (null in mode NONE), each {@code [position][vocab]}. Scales must be run in order;
     * {@code inputs} are scale {@code k}'s input embeddings (ignored, and may be null, for scale 0).
     */
    float[][][] scale(int k, float[][] inputs) {
        if (k == 0) {
            open();
        }
        int cells = layout.side(k) * layout.side(k);
        return switch (mode) {
            case BATCH -> {
                ForwardResult r = forward(k, cells, inputs, 2, new int[] {condToken, uncondToken}, cond);
                yield new float[][][] {rows(r, 0, cells), rows(r, 1, cells)};
            }
            case TWO_STATES -> new float[][][] {
                    rows(forward(k, cells, inputs, 1, new int[] {condToken}, cond), 0, cells),
                    rows(forward(k, cells, inputs, 1, new int[] {uncondToken}, uncond), 0, cells)};
            default -> new float[][][] {rows(forward(k, cells, inputs, 1, new int[] {condToken}, cond), 0, cells),
                    null};
        };
    }

    private void open() {
        if (cond != null) {
            throw new IllegalStateException("scale 0 runs once per image");
        }
        cond = model.newState(mode == Mode.BATCH ? 2 : 1);
        if (mode == Mode.TWO_STATES) {
            uncond = model.newState(1);
        }
    }

    private ForwardResult forward(int k, int cells, float[][] inputs, int batch, int[] firstTokens,
                                  DecodeState state) {
        ForwardRequest.Builder builder;
        if (k == 0) {
            int[][] tokens = new int[batch][cells];
            for (int b = 0; b < batch; b++) {
                Arrays.fill(tokens[b], firstTokens[b]);
            }
            builder = ForwardRequest.builder(tokens);
        } else {
            float[][][] embeddings = new float[batch][][];
            for (int b = 0; b < batch; b++) {
                embeddings[b] = inputs;
            }
            builder = ForwardRequest.builderForEmbeddings(embeddings);
        }
        AttentionSpec attention = ScaleSegments.forScale(layout, k, batch);
        ForwardResult result = model.forward(builder.attention(attention).state(state).write(StateWrite.APPEND)
                .build());
        forwards++;
        return result;
    }

    /** Checked copies of the {@code cells} logit rows of batch row {@code b}. */
    private float[][] rows(ForwardResult result, int b, int cells) {
        float[][] rows = result.logits() == null || result.logits().length <= b ? null : result.logits()[b];
        if (rows == null || rows.length != cells) {
            throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, card.name() + " returned "
                    + (rows == null ? "no" : rows.length) + " logit rows for a scale of " + cells + " positions");
        }
        float[][] out = new float[cells][];
        for (int i = 0; i < cells; i++) {
            out[i] = DecodeChecks.checkedCopy(rows[i], card);
        }
        return out;
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
