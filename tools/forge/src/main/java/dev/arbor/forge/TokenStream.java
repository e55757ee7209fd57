package dev.arbor.forge;

import dev.arbor.api.tokenizer.Tokenizer;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Stories packed into one token stream, each as BOS, its tokens (llama2.c encode, dummy prefix included) and EOS,
 * the way a pipeline sees a prompt (BOS first) and stops (EOS); training windows are drawn from it.
 */
public final class TokenStream implements Windows {
    private final int[] tokens;
    private final long bytes;

    private TokenStream(int[] tokens, long bytes) {
        this.tokens = tokens;
        this.bytes = bytes;
    }

    public static TokenStream encode(List<String> stories, Tokenizer tok, int bos, int eos) {
        java.util.ArrayList<int[]> parts = new java.util.ArrayList<>();
        int n = 0;
        long bytes = 0;
        for (String s : stories) {
            int[] ids = tok.encode(s, false);
            parts.add(ids);
            n += ids.length + 2;
            bytes += s.getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
        }
        int[] all = new int[n];
        int at = 0;
        for (int[] ids : parts) {
            all[at++] = bos;
            System.arraycopy(ids, 0, all, at, ids.length);
            at += ids.length;
            all[at++] = eos;
        }
        return new TokenStream(all, bytes);
    }

    /**
     * The cached streams {train, held-out} if {@code cache} was written for exactly this tokenizer file (its SHA-256
     * is stored in the cache), else null.
     */
    static TokenStream[] readCache(java.nio.file.Path cache, java.nio.file.Path tokenizer) throws java.io.IOException {
        if (!java.nio.file.Files.isRegularFile(cache)) {
            return null;
        }
        try (java.io.DataInputStream in = new java.io.DataInputStream(new java.io.BufferedInputStream(
                java.nio.file.Files.newInputStream(cache)))) {
            if (!in.readUTF().equals(dev.arbor.models.llama2c.Llama2cOnnxConverter.sha256(tokenizer))) {
                return null;
            }
            TokenStream[] out = new TokenStream[2];
            for (int s = 0; s < 2; s++) {
                long bytes = in.readLong();
                int[] t = new int[in.readInt()];
                for (int i = 0; i < t.length; i++) {
                    t[i] = in.readInt();
                }
                out[s] = new TokenStream(t, bytes);
            }
            return out;
        }
    }

    static void writeCache(java.nio.file.Path cache, java.nio.file.Path tokenizer, TokenStream... streams)
            throws java.io.IOException {
        java.nio.file.Path tmp = java.nio.file.Files.createTempFile(cache.getParent(), "tokens", ".tmp");
        try (java.io.DataOutputStream out = new java.io.DataOutputStream(new java.io.BufferedOutputStream(
                java.nio.file.Files.newOutputStream(tmp)))) {
            out.writeUTF(dev.arbor.models.llama2c.Llama2cOnnxConverter.sha256(tokenizer));
            for (TokenStream s : streams) {
                out.writeLong(s.bytes);
                out.writeInt(s.tokens.length);
                for (int t : s.tokens) {
                    out.writeInt(t);
                }
            }
        }
        java.nio.file.Files.move(tmp, cache, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }

    @Override
    public int length() {
        return tokens.length;
    }

    /** UTF-8 bytes of the stories (without the BOS/EOS markers). */
    public long bytes() {
        return bytes;
    }

    /** {@code count} windows of {@code len} tokens at uniformly random offsets. */
    @Override
    public int[][] randomWindows(int count, int len, SplittableRandom rng) {
        if (tokens.length < len) {
            throw new IllegalArgumentException("the corpus has " + tokens.length + " tokens, fewer than one window of "
                    + len + "; make the corpus larger or seq_len smaller");
        }
        int[][] out = new int[count][];
        for (int i = 0; i < count; i++) {
            int start = rng.nextInt(tokens.length - len + 1);
            out[i] = java.util.Arrays.copyOfRange(tokens, start, start + len);
        }
        return out;
    }

    /** Window {@code i} of consecutive non-overlapping windows of {@code len} (wrapping), for evaluation. */
    @Override
    public int[] window(int i, int len) {
        int perPass = Math.max(1, (tokens.length - len) / len + 1);
        int start = (i % perPass) * len;
        return java.util.Arrays.copyOfRange(tokens, start, start + len);
    }

    /** How many distinct non-overlapping windows of {@code len} the stream holds. */
    @Override
    public int windowCount(int len) {
        return tokens.length < len ? 0 : (tokens.length - len) / len + 1;
    }
}
