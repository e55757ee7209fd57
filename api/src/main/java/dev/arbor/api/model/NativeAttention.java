package dev.arbor.api.model;

/** The attention pattern a model was trained with. */
public enum NativeAttention {
    CAUSAL,
    BIDIRECTIONAL,
    BLOCK_CAUSAL,
    /**
     * Block-causal over an image's scales (VAR next-scale prediction): a token sees every token of its own and
     * earlier scales; the scales come from the pipeline's {@code dev.arbor.api.image.ImageLayout}.
     */
    SCALE_CAUSAL
}
