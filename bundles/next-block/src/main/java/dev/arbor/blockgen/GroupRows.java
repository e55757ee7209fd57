package dev.arbor.blockgen;

import dev.arbor.api.ArborException;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ForwardResult;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.model.StateWrite;
import dev.arbor.autoregressive.DecodeChecks;

/**
 * The conditional row ({@code [class] + ..}) and, when guidance is on, the unconditional row ({@code [null class]
 * + ..}) of one group-parallel image with their KV state(s): {@link #step} appends one step's positions to the
 * state(s) and returns the logits of its rows for both (checked copies). Rows differ only in the condition at
 * position 0, so the batch needs no padding. A one-position step is a plain causal append
 * ({@code ForwardRequest.next}, as raster decoding runs it), a group step carries the layout's Segments.
 * Not thread-safe: one request owns it.
 */
final class GroupRows implements AutoCloseable {
    private final ModelBackend model;
    private final ModelCard card;
    private final GroupLayout groups;
    private final GroupParallelDecoder.Mode mode;
    private DecodeState cond;
    private DecodeState uncond;
    private int forwards;

    GroupRows(ModelBackend model, GroupLayout groups, GroupParallelDecoder.Mode mode) {
        this.model = model;
        this.card = model.card();
        this.groups = groups;
        this.mode = mode;
    }

    int forwards() {
        return forwards;
    }

    /**
     * The logits of {@code step}'s rows: {@code [0]} conditional, {@code [1]} unconditional (null in mode NONE),
     * each {@code [row][vocab]}; {@code condIn} / {@code uncondIn} are the step's input ids of each row.
     */
    float[][][] step(GroupLayout.Step step, int[] condIn, int[] uncondIn) {
        if (step.index() == 0) {
            cond = model.newState(mode == GroupParallelDecoder.Mode.BATCH ? 2 : 1);
            if (mode == GroupParallelDecoder.Mode.TWO_STATES) {
                uncond = model.newState(1);
            }
        }
        return switch (mode) {
            case BATCH -> {
                ForwardResult r = forward(step, new int[][] {condIn, uncondIn}, cond);
                yield new float[][][] {rows(r, 0, step.size()), rows(r, 1, step.size())};
            }
            case TWO_STATES -> new float[][][] {
                    rows(forward(step, new int[][] {condIn}, cond), 0, step.size()),
                    rows(forward(step, new int[][] {uncondIn}, uncond), 0, step.size())};
            case NONE -> new float[][][] {rows(forward(step, new int[][] {condIn}, cond), 0, step.size()), null};
        };
    }

    private ForwardResult forward(GroupLayout.Step step, int[][] tokens, DecodeState state) {
        ForwardRequest request = step.size() == 1
                // one new position sees every earlier one under either mask: the causal append raster decoding runs
                ? ForwardRequest.next(tokens, state)
                : ForwardRequest.builder(tokens).attention(groups.attention(step, tokens.length)).state(state)
                        .write(StateWrite.APPEND).build();
        ForwardResult result = model.forward(request);
        forwards++;
        return result;
    }

    /** Checked copies of the {@code n} logit rows of batch row {@code b} (the last {@code n} rows returned). */
    private float[][] rows(ForwardResult result, int b, int n) {
        float[][] rows = result.logits() == null || result.logits().length <= b ? null : result.logits()[b];
        if (rows == null || rows.length < n) {
            throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, card.name() + " returned "
                    + (rows == null ? "no" : rows.length) + " logit rows for a step of " + n + " positions");
        }
        float[][] out = new float[n][];
        for (int i = 0; i < n; i++) {
            out[i] = DecodeChecks.checkedCopy(rows[rows.length - n + i], card);
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
