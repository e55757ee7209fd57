package dev.arbor.models.llama2c;

import dev.arbor.api.ArborException;

/**
 * The seven header fields of a llama2.c checkpoint ({@code Config} in llama2.c's run.c), with the sign of
 * {@code vocab_size} already turned into {@link #sharedClassifier()}.
 *
 * @param dim              transformer width
 * @param hiddenDim        width of the SwiGLU feed-forward layer
 * @param nLayers          number of transformer blocks
 * @param nHeads           number of query heads
 * @param nKvHeads         number of key/value heads (grouped-query attention when smaller than nHeads)
 * @param vocabSize        number of tokens
 * @param seqLen           maximum sequence length (the RoPE table size)
 * @param sharedClassifier true when the classifier reuses the token embedding (positive vocab_size in the file)
 */
public record Llama2cConfig(int dim, int hiddenDim, int nLayers, int nHeads, int nKvHeads, int vocabSize,
                            int seqLen, boolean sharedClassifier) {

    /** Width of one attention head. */
    public int headSize() {
        return dim / nHeads;
    }

    /** Width of all key (or value) heads together. */
    public int kvDim() {
        return dim * nKvHeads / nHeads;
    }

    /** How many query heads share one key/value head (run.c's {@code kv_mul}). */
    public int kvMul() {
        return nHeads / nKvHeads;
    }

    /** The same configuration with only the first {@code layers} blocks. */
    public Llama2cConfig withLayers(int layers) {
        return new Llama2cConfig(dim, hiddenDim, layers, nHeads, nKvHeads, vocabSize, seqLen, sharedClassifier);
    }

    /**
     * Checks the invariants run.c relies on; {@code source} names the file (or "config") in the message.
     *
     * @throws ArborException (BAD_MODEL) naming the field and its value
     */
    public void validate(String source) {
        requirePositive(source, "dim", dim);
        requirePositive(source, "hidden_dim", hiddenDim);
        requirePositive(source, "n_layers", nLayers);
        requirePositive(source, "n_heads", nHeads);
        requirePositive(source, "n_kv_heads", nKvHeads);
        requirePositive(source, "vocab_size", vocabSize);
        requirePositive(source, "seq_len", seqLen);
        if (dim % nHeads != 0) {
            throw bad(source, "dim " + dim + " is not divisible by n_heads " + nHeads);
        }
        if (nHeads % nKvHeads != 0) {
            throw bad(source, "n_heads " + nHeads + " is not divisible by n_kv_heads " + nKvHeads);
        }
        if (headSize() % 2 != 0) {
            throw bad(source, "head size " + headSize() + " (dim/n_heads) must be even for rotary embeddings");
        }
    }

    /** Number of float32 values the weights section of the file holds, the skipped RoPE tables included. */
    public long fileFloatCount() {
        long d = dim;
        long kv = kvDim();
        long h = hiddenDim;
        long l = nLayers;
        long count = (long) vocabSize * d      // token_embedding_table
                + l * d                          // rms_att_weight
                + l * d * d                      // wq
                + 2 * l * kv * d                 // wk, wv
                + l * d * d                      // wo
                + l * d                          // rms_ffn_weight
                + 3 * l * h * d                  // w1, w2, w3
                + d                              // rms_final_weight
                + (long) seqLen * headSize();    // freq_cis_real + freq_cis_imag, seq_len * head_size/2 each
        return sharedClassifier ? count : count + (long) vocabSize * d;
    }

    /** Exact size in bytes of a checkpoint with this header. */
    public long fileSize() {
        return Llama2cCheckpoint.HEADER_BYTES + 4L * fileFloatCount();
    }

    private static void requirePositive(String source, String field, int value) {
        if (value <= 0) {
            throw bad(source, "header field " + field + " must be positive, got " + value);
        }
    }

    private static ArborException bad(String source, String problem) {
        return new ArborException(ArborException.Kind.BAD_MODEL,
                "llama2.c checkpoint " + source + ": " + problem + " (not a llama2.c legacy checkpoint?)");
    }
}
