package dev.arbor.models.llama2c;

import dev.arbor.api.ArborException;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Random;

/**
 * Writes a seeded random-weight llama2.c legacy checkpoint of any shape: the standard throughput model for comparing
 * engines on the same weights (llama2.c's run.c, llama.cpp through {@code llama-convert-llama2c-to-ggml}, Arbor), in
 * exactly the layout {@link Llama2cCheckpoint#read} and run.c read.
 *
 * <p>Weights: every matrix and the token embedding are N(0, 0.02²) (GPT-2's initialisation, so that activations stay
 * in a range where no engine saturates or produces NaN); RMSNorm weights are 1; the legacy RoPE tables hold the values
 * llama2.c's exporter wrote. The classifier rows of tokens 1 (BOS) and 2 (EOS) are zero, so those two logits are
 * exactly 0 while the maximum over the other rows is well above 0: greedy decoding never picks them and every engine
 * decodes the full requested length (run.c stops at BOS, Arbor and llama.cpp at EOS), which a fixed-length
 * tokens/s comparison needs. With a shared classifier the zero row is also BOS's embedding, so the first step from
 * BOS computes all-zero activations and logits and every engine's greedy argmax takes id 0; from the second step on
 * the activations are ordinary (the cost of every step is the same either way). The same shape and seed always give the same bytes ({@link Random#nextGaussian} is
 * specified exactly).
 *
 * <pre>java ... dev.arbor.models.llama2c.RandomLlama2cCheckpoint OUT.bin [seed] [dim,hidden,layers,heads,kv_heads,vocab,seq_len] [shared|unshared]</pre>
 * Defaults: seed 42, stories15M's shape {@code 288,768,6,6,6,32000,256}, shared classifier.
 */
public final class RandomLlama2cCheckpoint {
    /** stories15M's shape (dim 288, hidden 768, 6 layers, 6 heads, 6 kv heads, vocab 32000, seq_len 256), shared. */
    public static final Llama2cConfig STORIES15M_SHAPE = new Llama2cConfig(288, 768, 6, 6, 6, 32000, 256, true);

    /** Standard deviation of every random matrix. */
    public static final double STD = 0.02;

    /** Tokens whose classifier rows are zero so greedy decoding never stops early: BOS (1) and EOS (2). */
    private static final int[] SILENT_TOKENS = {1, 2};

    private RandomLlama2cCheckpoint() {
    }

    public static void main(String[] args) throws IOException {
        if (args.length < 1 || args.length > 4) {
            throw ArborException.invalid("usage: RandomLlama2cCheckpoint OUT.bin [seed] "
                    + "[dim,hidden,layers,heads,kv_heads,vocab,seq_len] [shared|unshared]");
        }
        Path out = Path.of(args[0]);
        long seed = args.length > 1 ? parseLong(args[1], "seed") : 42;
        boolean shared = args.length <= 3 || classifier(args[3]);
        Llama2cConfig config = args.length > 2 ? shape(args[2], shared) : withShared(STORIES15M_SHAPE, shared);
        write(config, seed, out);
        System.out.printf(Locale.ROOT, "wrote %s: %s, seed %d, %d bytes%n", out, config, seed, Files.size(out));
    }

    /**
     * Writes the checkpoint for {@code config} and {@code seed} to {@code out} (replacing it).
     *
     * @throws ArborException (BAD_MODEL) for a shape run.c could not run, (INVALID) for a vocabulary too small to
     *                        hold tokens 1 and 2
     */
    public static void write(Llama2cConfig config, long seed, Path out) throws IOException {
        config.validate("config");
        if (config.vocabSize() <= SILENT_TOKENS[SILENT_TOKENS.length - 1]) {
            throw ArborException.invalid("vocab_size must be at least 3 (tokens 0, 1 = BOS, 2 = EOS), got "
                    + config.vocabSize());
        }
        Random rng = new Random(seed);
        int d = config.dim();
        int kv = config.kvDim();
        int h = config.hiddenDim();
        int l = config.nLayers();
        Path parent = out.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        try (OutputStream os = Files.newOutputStream(out)) {
            Floats w = new Floats(os);
            ByteBuffer header = ByteBuffer.allocate(Llama2cCheckpoint.HEADER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
            header.putInt(d).putInt(h).putInt(l).putInt(config.nHeads()).putInt(config.nKvHeads())
                    .putInt(config.sharedClassifier() ? config.vocabSize() : -config.vocabSize())
                    .putInt(config.seqLen());
            os.write(header.array());
            classifierLike(w, rng, config.vocabSize(), d, config.sharedClassifier());   // token_embedding_table
            constant(w, (long) l * d, 1f);                                              // rms_att_weight
            gaussian(w, rng, (long) l * d * d);                                         // wq
            gaussian(w, rng, (long) l * kv * d);                                        // wk
            gaussian(w, rng, (long) l * kv * d);                                        // wv
            gaussian(w, rng, (long) l * d * d);                                         // wo
            constant(w, (long) l * d, 1f);                                              // rms_ffn_weight
            gaussian(w, rng, (long) l * h * d);                                         // w1
            gaussian(w, rng, (long) l * d * h);                                         // w2
            gaussian(w, rng, (long) l * h * d);                                         // w3
            constant(w, d, 1f);                                                         // rms_final_weight
            ropeTables(w, config);                                                      // freq_cis_real, _imag
            if (!config.sharedClassifier()) {
                classifierLike(w, rng, config.vocabSize(), d, true);                    // wcls
            }
            w.flush();
        }
        long size = Files.size(out);
        if (size != config.fileSize()) {
            // a bug here, not a user error: the layout above must match Llama2cConfig#fileSize
            throw new IllegalStateException("wrote " + size + " bytes, expected " + config.fileSize());
        }
    }

    /** A [vocab, dim] matrix; when {@code silent}, the rows of BOS and EOS are zero (they act as the classifier). */
    private static void classifierLike(Floats w, Random rng, int vocab, int dim, boolean silent) throws IOException {
        for (int row = 0; row < vocab; row++) {
            boolean zero = silent && (row == SILENT_TOKENS[0] || row == SILENT_TOKENS[1]);
            for (int c = 0; c < dim; c++) {
                // draw the value even for a zero row, so the rest of the stream does not depend on the flag
                float v = (float) (rng.nextGaussian() * STD);
                w.put(zero ? 0f : v);
            }
        }
    }

    private static void gaussian(Floats w, Random rng, long count) throws IOException {
        for (long i = 0; i < count; i++) {
            w.put((float) (rng.nextGaussian() * STD));
        }
    }

    private static void constant(Floats w, long count, float value) throws IOException {
        for (long i = 0; i < count; i++) {
            w.put(value);
        }
    }

    /** llama2.c's legacy freq_cis_real then freq_cis_imag, [seq_len, head_size/2] each (run.c skips them). */
    private static void ropeTables(Floats w, Llama2cConfig config) throws IOException {
        int half = config.headSize() / 2;
        for (int part = 0; part < 2; part++) {
            for (int pos = 0; pos < config.seqLen(); pos++) {
                for (int i = 0; i < half; i++) {
                    double freq = 1.0 / Math.pow(10000.0, (2.0 * i) / config.headSize());
                    double angle = pos * freq;
                    w.put((float) (part == 0 ? Math.cos(angle) : Math.sin(angle)));
                }
            }
        }
    }

    private static Llama2cConfig shape(String text, boolean shared) {
        String[] f = text.split(",");
        if (f.length != 7) {
            throw ArborException.invalid("shape must be dim,hidden,layers,heads,kv_heads,vocab,seq_len (7 integers),"
                    + " got '" + text + "'");
        }
        String[] names = {"dim", "hidden", "layers", "heads", "kv_heads", "vocab", "seq_len"};
        int[] v = new int[7];
        for (int i = 0; i < 7; i++) {
            v[i] = Math.toIntExact(parseLong(f[i].trim(), names[i]));
        }
        return new Llama2cConfig(v[0], v[1], v[2], v[3], v[4], v[5], v[6], shared);
    }

    private static Llama2cConfig withShared(Llama2cConfig c, boolean shared) {
        return new Llama2cConfig(c.dim(), c.hiddenDim(), c.nLayers(), c.nHeads(), c.nKvHeads(), c.vocabSize(),
                c.seqLen(), shared);
    }

    private static boolean classifier(String text) {
        return switch (text) {
            case "shared" -> true;
            case "unshared" -> false;
            default -> throw ArborException.invalid("classifier must be 'shared' or 'unshared', got '" + text + "'");
        };
    }

    private static long parseLong(String text, String what) {
        try {
            return Long.parseLong(text);
        } catch (NumberFormatException e) {
            throw ArborException.invalid(what + " must be an integer, got '" + text + "'");
        }
    }

    /** Little-endian float32 output through one reusable buffer. */
    private static final class Floats {
        private final OutputStream os;
        private final ByteBuffer buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);

        Floats(OutputStream os) {
            this.os = os;
        }

        void put(float v) throws IOException {
            if (!buf.hasRemaining()) {
                flush();
            }
            buf.putFloat(v);
        }

        void flush() throws IOException {
            os.write(buf.array(), 0, buf.position());
            buf.clear();
        }
    }
}
