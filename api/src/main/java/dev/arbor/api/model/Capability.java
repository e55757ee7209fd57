package dev.arbor.api.model;

/** What a backend really supports; generators check these before building requests. */
public enum Capability {
    /** {@link AttentionSpec.Full}: bidirectional attention over all visible slots. */
    FULL_ATTENTION,
    /** {@link AttentionSpec.Segments}: block-causal attention. */
    SEGMENT_MASK,
    /** {@link AttentionSpec.Explicit}: per-query visibility (tree attention). */
    EXPLICIT_MASK,
    /** {@link AttentionSpec.WithPadding}: ragged batches with left padding. */
    PADDING,
    /** {@link DecodeState#truncate}. */
    STATE_TRUNCATE,
    /** {@link DecodeState#compact}. */
    STATE_COMPACT,
    /** {@link DecodeState#fork}. */
    STATE_FORK,
    /** {@link DecodeState#selectRows} and {@link DecodeState#dropRows}. */
    STATE_SELECT_ROWS,
    /** {@link StateWrite.At}: writing the state at fixed slots. */
    STATE_WRITE_AT,
    /** Batches of more than one row. */
    BATCH,
    /** {@link ForwardRequest#embeddings()} in place of token ids. */
    INPUT_EMBEDS,
    /** Hidden states in {@link ForwardResult#hidden()}. */
    HIDDEN_OUTPUT,
    /** {@link EmbeddingAccess}: the input-embedding matrix. */
    EMBEDDING_MATRIX
}
