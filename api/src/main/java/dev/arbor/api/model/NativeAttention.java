package dev.arbor.api.model;

/** The attention pattern a model was trained with. */
public enum NativeAttention {
    CAUSAL,
    BIDIRECTIONAL,
    BLOCK_CAUSAL
}
