package dev.arbor.models.llama2c;

import dev.arbor.api.ArborException;
import dev.arbor.api.tokenizer.Tokenizer;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;

/**
 * llama2.c's byte-level BPE tokenizer ({@code Tokenizer}, {@code encode} and {@code decode} in llama2.c's run.c),
 * read from its {@code tokenizer.bin} format: int32 max_token_length, then per token a float32 merge score, an int32
 * byte length and the piece's bytes (all little-endian).
 *
 * <p>{@link #encode}: optional BOS (1); the dummy-prefix piece " " when the text is not empty (as sentencepiece's
 * add_dummy_prefix); each UTF-8 code point looked up as a piece, falling back to one {@code <0xXX>} token per byte
 * (id = byte + 3); then repeatedly merge the adjacent pair whose concatenation is a piece with the highest score
 * (first such pair on ties) until no pair merges; {@link PairMerges} does this in O(n log n). {@link #decode}: concatenates piece bytes, strips the leading
 * space of the first piece of the text and of any piece following BOS (sentencepiece's dummy prefix), turns
 * {@code <0xXX>} pieces into raw bytes and UTF-8-decodes the whole byte string at the end, so multi-byte
 * characters split over byte tokens survive. Like run.c's {@code safe_printf}, a lone non-printable ASCII control
 * byte (other than whitespace) is dropped; BOS and EOS are skipped. Immutable and thread-safe. An encode whose
 * thread is interrupted (its request was cancelled) stops with {@link ArborException.Kind#CANCELLED}.
 */
public final class Llama2cTokenizer implements Tokenizer {
    /** llama2.c's fixed special ids. */
    public static final int UNK = 0;
    public static final int BOS = 1;
    public static final int EOS = 2;

    private final String source;
    private final byte[][] pieces;
    private final float[] scores;
    private final int maxTokenLength;
    /** Piece bytes (as ISO-8859-1 chars, one char per byte) to the lowest id with that piece. */
    private final Map<String, Integer> lookup;
    /** For each id, the raw byte it stands for if its piece is {@code <0xXX>}, else -1. */
    private final int[] byteValue;
    /** For each byte value, the lowest id whose piece is that single byte, else -1 (the lookup of ASCII text). */
    private final int[] singleByte = new int[256];
    /** run.c's merge loop over this vocabulary. */
    private final PairMerges merges;

    private Llama2cTokenizer(String source, byte[][] pieces, float[] scores, int maxTokenLength) {
        this.source = source;
        this.pieces = pieces;
        this.scores = scores;
        this.maxTokenLength = maxTokenLength;
        this.lookup = new HashMap<>(pieces.length * 2);
        this.byteValue = new int[pieces.length];
        for (int i = 0; i < pieces.length; i++) {
            lookup.putIfAbsent(key(pieces[i]), i);
            byteValue[i] = parseBytePiece(pieces[i]);
        }
        for (int b = 0; b < 256; b++) {
            Integer id = lookup.get(String.valueOf((char) b));
            singleByte[b] = id == null ? -1 : id;
        }
        this.merges = new PairMerges(pieces, scores, lookup);
    }

    /**
     * Reads a {@code tokenizer.bin}; {@code vocabSize} > 0 reads exactly that many entries (as run.c does with the
     * model's vocab_size), 0 reads entries until the end of the file.
     *
     * @throws ArborException (NOT_FOUND) for a missing file, (BAD_MODEL) naming the file and the entry for a
     *                        truncated or malformed one
     */
    public static Llama2cTokenizer read(Path file, int vocabSize) {
        String name = file.toString();
        byte[] data;
        try {
            data = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new ArborException(ArborException.Kind.NOT_FOUND, "llama2.c tokenizer " + name + " does not exist",
                    e);
        } catch (IOException e) {
            throw ArborException.badModel("cannot read llama2.c tokenizer " + name + ": " + e.getMessage(), e);
        }
        if (vocabSize < 0) {
            throw ArborException.invalid("vocab_size for llama2.c tokenizer " + name + " must be >= 0 (0 = read to "
                    + "the end of the file), got " + vocabSize);
        }
        ByteBuffer buf = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
        if (buf.remaining() < 4) {
            throw bad(name, "file is truncated: " + data.length + " bytes, shorter than the 4-byte max_token_length "
                    + "header");
        }
        int maxLen = buf.getInt();
        if (maxLen <= 0 || maxLen > 1 << 16) {
            throw bad(name, "max_token_length is " + maxLen + ", expected a positive length (not a llama2.c "
                    + "tokenizer.bin?)");
        }
        List<byte[]> pieces = new ArrayList<>();
        List<Float> scores = new ArrayList<>();
        while (vocabSize > 0 ? pieces.size() < vocabSize : buf.hasRemaining()) {
            int id = pieces.size();
            if (buf.remaining() < 8) {
                throw bad(name, "file is truncated at token " + id + " (byte offset " + buf.position() + ")"
                        + (vocabSize > 0 ? "; expected " + vocabSize + " tokens" : "")
                        + ": its score and length need 8 bytes, " + buf.remaining() + " remain");
            }
            float score = buf.getFloat();
            int len = buf.getInt();
            if (len < 0 || len > maxLen) {
                throw bad(name, "token " + id + " has length " + len + " outside [0, max_token_length " + maxLen
                        + "] (byte offset " + (buf.position() - 4) + ")");
            }
            if (buf.remaining() < len) {
                throw bad(name, "file is truncated at token " + id + ": its piece needs " + len + " bytes, "
                        + buf.remaining() + " remain");
            }
            byte[] piece = new byte[len];
            buf.get(piece);
            pieces.add(piece);
            scores.add(score);
        }
        if (pieces.size() <= EOS) {
            throw bad(name, "holds " + pieces.size() + " tokens; a llama2.c vocabulary has at least <unk>, <s>, </s>");
        }
        float[] s = new float[scores.size()];
        for (int i = 0; i < s.length; i++) {
            s[i] = scores.get(i);
        }
        return new Llama2cTokenizer(name, pieces.toArray(new byte[0][]), s, maxLen);
    }

    /** Where the vocabulary was read from. */
    public String source() {
        return source;
    }

    /** The longest piece in bytes, from the file header. */
    public int maxTokenLength() {
        return maxTokenLength;
    }

    /** The merge score of {@code id}. */
    public float score(int id) {
        checkId(id);
        return scores[id];
    }

    /** The raw bytes of the piece of {@code id}; a fresh copy. */
    public byte[] piece(int id) {
        checkId(id);
        return pieces[id].clone();
    }

    @Override
    public int[] encode(String text, boolean addSpecialTokens) {
        if (text == null) {
            throw ArborException.invalid("cannot encode null text");
        }
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        int[] tokens = new int[bytes.length + 3];
        int n = 0;
        if (addSpecialTokens) {
            tokens[n++] = BOS;
        }
        if (bytes.length > 0) {
            Integer prefix = lookup.get(" ");
            // run.c assumes " " is a piece; a vocabulary without it gets the byte token of 0x20 instead.
            tokens[n++] = prefix != null ? prefix : byteToken(' ');
        }
        // Code points: a lead byte and its continuation bytes (at most 4), exactly as run.c walks the bytes.
        int start = 0;
        while (start < bytes.length) {
            int end = start + 1;
            while (end < bytes.length && (bytes[end] & 0xC0) == 0x80 && end - start < 4) {
                end++;
            }
            Integer id = end - start == 1 ? (singleByte[bytes[start] & 0xFF] < 0 ? null
                    : singleByte[bytes[start] & 0xFF])
                    : lookup.get(new String(bytes, start, end - start, StandardCharsets.ISO_8859_1));
            if (id != null) {
                tokens[n++] = id;
            } else {
                for (int i = start; i < end; i++) {
                    tokens[n++] = byteToken(bytes[i] & 0xFF);
                }
            }
            start = end;
        }
        // Greedy merges: the best-scoring mergeable adjacent pair first, the leftmost on ties (O(n log n)).
        n = merges.merge(tokens, n);
        return Arrays.copyOf(tokens, n);
    }

    @Override
    public String decode(int[] ids) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int prev = -1;
        for (int id : ids) {
            checkId(id);
            if (id == BOS || id == EOS) {
                prev = id;
                continue;
            }
            byte[] piece = pieces[id];
            int from = 0;
            // sentencepiece strips the dummy-prefix space at the start of the text and after BOS (run.c: after BOS).
            if ((prev == BOS || out.size() == 0 && prev == -1) && piece.length > 0 && piece[0] == ' ') {
                from = 1;
            }
            if (byteValue[id] >= 0) {
                int b = byteValue[id];
                if (b >= 0x80 || isPrintableOrSpace(b)) {
                    out.write(b);
                }
            } else if (piece.length - from == 1) {
                if (isPrintableOrSpace(piece[from] & 0xFF) || (piece[from] & 0xFF) >= 0x80) {
                    out.write(piece[from]);
                }
            } else {
                out.write(piece, from, piece.length - from);
            }
            prev = id;
        }
        return new String(out.toByteArray(), StandardCharsets.UTF_8);
    }

    @Override
    public int vocabSize() {
        return pieces.length;
    }

    @Override
    public OptionalInt bosTokenId() {
        return OptionalInt.of(BOS);
    }

    @Override
    public OptionalInt eosTokenId() {
        return OptionalInt.of(EOS);
    }

    /** The vocabulary entry of {@code id} as text (raw piece, leading space kept, {@code <0xXX>} as written). */
    @Override
    public String tokenText(int id) {
        checkId(id);
        return new String(pieces[id], StandardCharsets.UTF_8);
    }

    /**
     * The piece's bytes as run.c's decode writes them after other text: {@code <0xXX>} pieces as their raw byte,
     * BOS and EOS as nothing, and the leading space kept (decode strips it only at the start of the text).
     * Unprintable single bytes, which run.c's decode drops, are nothing here too.
     */
    @Override
    public byte[] tokenBytes(int id) {
        checkId(id);
        if (id == BOS || id == EOS) {
            return new byte[0];
        }
        int b = byteValue[id] >= 0 ? byteValue[id] : pieces[id].length == 1 ? pieces[id][0] & 0xFF : -1;
        if (b >= 0) {
            return b >= 0x80 || isPrintableOrSpace(b) ? new byte[] {(byte) b} : new byte[0];
        }
        return pieces[id].clone();
    }

    /** run.c's byte fallback: byte b is token b + 3 ({@code <0xXX>}). */
    private int byteToken(int b) {
        int id = b + 3;
        if (id >= pieces.length) {
            throw ArborException.invalid("the text holds a character that " + source + " has no piece for, and its "
                    + "vocabulary of " + pieces.length + " tokens has no byte token <0x" + String.format("%02X", b)
                    + "> to fall back to");
        }
        return id;
    }

    private void checkId(int id) {
        if (id < 0 || id >= pieces.length) {
            throw ArborException.invalid("token id " + id + " is outside the vocabulary [0, " + pieces.length
                    + ") of " + source);
        }
    }

    /** C's isprint || isspace in the "C" locale. */
    private static boolean isPrintableOrSpace(int b) {
        return (b >= 0x20 && b < 0x7F) || b == '\t' || b == '\n' || b == 0x0B || b == '\f' || b == '\r';
    }

    /** The byte of a {@code <0xXX>} piece (run.c's sscanf "<0x%02hhX>"), or -1. */
    private static int parseBytePiece(byte[] piece) {
        if (piece.length != 6 || piece[0] != '<' || piece[1] != '0' || piece[2] != 'x' || piece[5] != '>') {
            return -1;
        }
        int hi = Character.digit(piece[3], 16);
        int lo = Character.digit(piece[4], 16);
        return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
    }

    private static String key(byte[] piece) {
        return new String(piece, StandardCharsets.ISO_8859_1);
    }

    private static ArborException bad(String file, String problem) {
        return new ArborException(ArborException.Kind.BAD_MODEL, "llama2.c tokenizer " + file + ": " + problem);
    }
}
