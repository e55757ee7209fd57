package dev.arbor.api.model;

import java.util.Objects;

/**
 * One batched forward pass over new query positions.
 *
 * @param tokens     [batch][Lq] new token ids (null when {@code embeddings} is given)
 * @param embeddings [batch][Lq][d] input embeddings instead of ids (needs {@link Capability#INPUT_EMBEDS})
 * @param positions  [batch][Lq] absolute position ids (may repeat); null = each row's count of valid earlier tokens
 * @param attention  visibility of state slots and new tokens for each query
 * @param state      the state to read and write; null = stateless full recompute (the reference path)
 * @param write      how the new tokens enter the state (ignored when {@code state} is null)
 * @param logitRows  [batch][k] indices into the new tokens whose logits to return; null = every row
 * @param wantHidden return hidden states too
 */
public record ForwardRequest(int[][] tokens, float[][][] embeddings, int[][] positions, AttentionSpec attention,
                             DecodeState state, StateWrite write, int[][] logitRows, boolean wantHidden) {

    public ForwardRequest {
        if ((tokens == null) == (embeddings == null)) {
            throw new IllegalArgumentException("give exactly one of tokens or embeddings");
        }
        attention = attention == null ? AttentionSpec.CAUSAL : attention;
        write = write == null ? (state == null ? StateWrite.NONE : StateWrite.APPEND) : write;
    }

    public int batchSize() {
        return tokens != null ? tokens.length : embeddings.length;
    }

    public int queryLength() {
        return tokens != null ? tokens[0].length : embeddings[0].length;
    }

    /** A causal request for {@code tokens} that appends to {@code state} and returns only each row's last logits. */
    public static ForwardRequest next(int[][] tokens, DecodeState state) {
        return builder(tokens).state(state).lastRowOnly().build();
    }

    public static Builder builder(int[][] tokens) {
        return new Builder(Objects.requireNonNull(tokens, "tokens"), null);
    }

    public static Builder builderForEmbeddings(float[][][] embeddings) {
        return new Builder(null, Objects.requireNonNull(embeddings, "embeddings"));
    }

    /** Fluent construction; every field but the inputs is optional. */
    public static final class Builder {
        private final int[][] tokens;
        private final float[][][] embeddings;
        private int[][] positions;
        private AttentionSpec attention = AttentionSpec.CAUSAL;
        private DecodeState state;
        private StateWrite write;
        private int[][] logitRows;
        private boolean wantHidden;

        private Builder(int[][] tokens, float[][][] embeddings) {
            this.tokens = tokens;
            this.embeddings = embeddings;
        }

        public Builder positions(int[][] positions) {
            this.positions = positions;
            return this;
        }

        public Builder attention(AttentionSpec attention) {
            this.attention = attention;
            return this;
        }

        public Builder state(DecodeState state) {
            this.state = state;
            return this;
        }

        public Builder write(StateWrite write) {
            this.write = write;
            return this;
        }

        public Builder logitRows(int[][] logitRows) {
            this.logitRows = logitRows;
            return this;
        }

        /** Return only the last new token's logits for every row. */
        public Builder lastRowOnly() {
            int b = tokens != null ? tokens.length : embeddings.length;
            int lq = tokens != null ? tokens[0].length : embeddings[0].length;
            int[][] rows = new int[b][];
            for (int i = 0; i < b; i++) {
                rows[i] = new int[] {lq - 1};
            }
            this.logitRows = rows;
            return this;
        }

        public Builder wantHidden(boolean wantHidden) {
            this.wantHidden = wantHidden;
            return this;
        }

        public ForwardRequest build() {
            return new ForwardRequest(tokens, embeddings, positions, attention, state, write, logitRows, wantHidden);
        }
    }
}
