package dev.arbor.tokenizer.huggingface;

import ai.djl.huggingface.tokenizers.TokenizerConfig;
import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.tokenizer.Tokenizer;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Map;
import java.util.OptionalInt;
import java.util.concurrent.locks.Lock;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * A Hugging Face {@code tokenizer.json} run by the Rust {@code tokenizers} library through DJL's binding.
 *
 * <p>The tokenizer.json alone decides encoding and decoding: its normalizer, pre-tokenizer, model, post-processor
 * (which adds special tokens when asked) and decoder. DJL can also imitate transformers' Python-side extras from
 * tokenizer_config.json (lower-casing, accent stripping and a prefix space in Java before encoding, clean-up of
 * spaces after decoding); those are switched off by handing DJL an empty {@link TokenizerConfig}, because they
 * change text the native tokenizer already handles and make decode lossy ({@code " ."} becomes {@code "."}),
 * which breaks streaming detokenisation and stop strings. The clean-up can be asked for with the option
 * {@value #CLEAN_UP_OPTION}. tokenizer_config.json is still read, by {@link TokenizerFiles}, for BOS and EOS.
 *
 * <p>Truncation and padding are off, whatever the tokenizer.json says: Arbor checks the context length itself and
 * never pads a single sequence.
 *
 * <p>Thread-safe: the native tokenizer is only read after creation. Calls take a read lock and {@link #close()}
 * takes the write lock, so the native handle is never freed under a running call (a use-after-free would crash
 * the JVM); calls after close fail with {@link ArborException.Kind#UNAVAILABLE}.
 */
public final class HuggingFaceTokenizer implements Tokenizer, AutoCloseable {
    /** Option: apply transformers' {@code clean_up_tokenization_spaces} after decoding (default false, lossy). */
    public static final String CLEAN_UP_OPTION = "clean_up_tokenization_spaces";

    private final TokenizerFiles files;
    private final boolean cleanUp;
    private final ai.djl.huggingface.tokenizers.HuggingFaceTokenizer djl;
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    private boolean closed;

    private HuggingFaceTokenizer(TokenizerFiles files, boolean cleanUp,
            ai.djl.huggingface.tokenizers.HuggingFaceTokenizer djl) {
        this.files = files;
        this.cleanUp = cleanUp;
        this.djl = djl;
    }

    /**
     * Opens the tokenizer.json at {@code path} (or in the folder {@code path}). Fails with an
     * {@link ArborException} naming the file: NOT_FOUND when it is missing, BAD_MODEL when it is not a
     * tokenizer.json, PLUGIN_FAILURE when the native library cannot load.
     */
    public static HuggingFaceTokenizer open(Path path, Options options) {
        Options opts = options == null ? Options.empty() : options;
        boolean cleanUp = opts.bool(CLEAN_UP_OPTION, false);
        TokenizerFiles files = TokenizerFiles.read(path);
        DjlNatives.ensureLoaded();
        // addSpecialTokens is DJL's default for encode(String); every call here passes it explicitly anyway.
        Map<String, String> djlOptions = Map.of("addSpecialTokens", "true", "truncation", "false",
                "padding", "false");
        ai.djl.huggingface.tokenizers.HuggingFaceTokenizer djl;
        try {
            djl = DjlNatives.withBundleClassLoader(() -> {
                try {
                    return ai.djl.huggingface.tokenizers.HuggingFaceTokenizer.newInstance(
                            new ByteArrayInputStream(files.bytes()), djlOptions, new TokenizerConfig());
                } catch (IOException e) {
                    throw new IllegalStateException(e);
                }
            });
        } catch (RuntimeException e) {
            throw ArborException.badModel(files.file() + " is not a tokenizer.json that Hugging Face tokenizers"
                    + " (" + DjlNatives.ARTIFACT + ") can load: " + e.getMessage(), e);
        }
        return new HuggingFaceTokenizer(files, cleanUp, djl);
    }

    @Override
    public int[] encode(String text, boolean addSpecialTokens) {
        if (text == null) {
            throw ArborException.invalid("cannot encode null text");
        }
        long[] ids;
        Lock read = acquire();
        try {
            ids = djl.encode(text, addSpecialTokens, false).getIds();
        } finally {
            read.unlock();
        }
        int[] out = new int[ids.length];
        for (int i = 0; i < ids.length; i++) {
            out[i] = Math.toIntExact(ids[i]);
        }
        return out;
    }

    /** Decodes with the tokenizer.json's decoder, skipping special tokens; ids must be in [0, vocabSize). */
    @Override
    public String decode(int[] ids) {
        String text = decode(ids, true);
        return cleanUp ? cleanUpTokenization(text) : text;
    }

    @Override
    public int vocabSize() {
        return files.vocabSize();
    }

    /**
     * Entries of the model's own vocabulary, without the tokens added on top of it (transformers'
     * {@code tokenizer.vocab_size}); {@link #vocabSize()} counts both, since encode returns both.
     */
    public int baseVocabSize() {
        return files.baseVocabSize();
    }

    /** Whether {@code id} is an added token marked special (decode skips it). */
    public boolean isSpecial(int id) {
        checkId(id);
        return files.special()[id];
    }

    @Override
    public OptionalInt bosTokenId() {
        return files.bos();
    }

    @Override
    public OptionalInt eosTokenId() {
        return files.eos();
    }

    /**
     * The vocabulary entry of {@code id} as the tokenizer.json spells it (byte-level BPE shows a leading space as
     * {@code Ġ}), as transformers' {@code convert_ids_to_tokens} does; decoding a single id could not show
     * tokens that hold part of a UTF-8 sequence. Ids that no entry names fall back to the decoder's text.
     */
    @Override
    public String tokenText(int id) {
        checkId(id);
        String entry = files.idToToken()[id];
        return entry != null ? entry : decode(new int[] {id}, false);
    }

    /**
     * The exact bytes {@code id} appends to decoded text after other text, read off the tokenizer.json's decoder
     * ({@link TokenBytes}: byte-level BPE through the inverse of GPT-2's byte table, SentencePiece-style
     * {@code ▁} and {@code <0xXX>} byte fallback); nothing for special tokens, which decode skips. Other decoders
     * fall back to the UTF-8 of decoding the id alone. With {@value #CLEAN_UP_OPTION} on, the clean-up (which
     * joins across tokens) is not reflected here.
     */
    @Override
    public byte[] tokenBytes(int id) {
        checkId(id);
        byte[][] table = files.tokenBytes();
        return table != null ? table[id].clone() : decode(new int[] {id}, true).getBytes(StandardCharsets.UTF_8);
    }

    /** The tokenizer.json this tokenizer was opened from. */
    public Path file() {
        return files.file();
    }

    /** Frees the native tokenizer once no call is running; idempotent. */
    @Override
    public void close() {
        lock.writeLock().lock();
        try {
            if (!closed) {
                closed = true;
                djl.close();
            }
        } finally {
            lock.writeLock().unlock();
        }
    }

    @Override
    public String toString() {
        return "HuggingFaceTokenizer[" + files.file() + ", " + vocabSize() + " ids]";
    }

    private String decode(int[] ids, boolean skipSpecialTokens) {
        if (ids == null) {
            throw ArborException.invalid("cannot decode a null id array");
        }
        long[] longs = new long[ids.length];
        for (int i = 0; i < ids.length; i++) {
            checkId(ids[i]);
            longs[i] = ids[i];
        }
        Lock read = acquire();
        try {
            return djl.decode(longs, skipSpecialTokens);
        } finally {
            read.unlock();
        }
    }

    private void checkId(int id) {
        if (id < 0 || id >= files.vocabSize()) {
            throw ArborException.invalid("token id " + id + " is outside the vocabulary of " + files.file()
                    + " (ids 0.." + (files.vocabSize() - 1) + ")");
        }
    }

    private Lock acquire() {
        Lock read = lock.readLock();
        read.lock();
        if (closed) {
            read.unlock();
            throw new ArborException(ArborException.Kind.UNAVAILABLE, "the tokenizer " + files.file() + " was closed"
                    + " (its provider, bundle dev.arbor.tokenizer.huggingface, was stopped); open it again");
        }
        return read;
    }

    /** transformers' {@code clean_up_tokenization}: removes spaces before punctuation and English contractions. */
    static String cleanUpTokenization(String text) {
        return text.replace(" .", ".").replace(" ?", "?").replace(" !", "!").replace(" ,", ",")
                .replace(" ' ", "'").replace(" n't", "n't").replace(" 'm", "'m").replace(" 's", "'s")
                .replace(" 've", "'ve").replace(" 're", "'re");
    }
}
