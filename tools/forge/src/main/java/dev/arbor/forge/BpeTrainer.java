package dev.arbor.forge;

import dev.arbor.api.ArborException;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Trains a byte-pair-encoding vocabulary (Sennrich et al. 2016) on the corpus and writes it in llama2.c's
 * tokenizer.bin format, so that {@link dev.arbor.models.llama2c.Llama2cTokenizer} (llama2.c's encode: dummy-prefix
 * space, one piece per code point with {@code <0xXX>} byte fallback, then greedy merges by highest score) reads it.
 *
 * <p>Layout: 0 {@code <unk>}, 1 {@code <s>} (BOS), 2 {@code </s>} (EOS), 3..258 the byte tokens {@code <0x00>} ..
 * {@code <0xFF>}, {@link #MASK_ID} the MASK token of the diffusion models, then one piece per character seen in
 * the corpus, then the merges in the order they were learned. A merge's score is minus its rank, so encode applies
 * earlier (more frequent) merges first. The MASK piece starts with the control character U+0001, which encode never
 * produces from text: no character piece holds a control character and byte fallback yields {@code <0x01>}, not
 * the raw byte. Words are pre-split as in GPT-2 (Radford et al. 2019): an optional leading space plus a run of
 * letters, of digits or of other symbols, or a run of whitespace; merges never cross such a split.
 */
public final class BpeTrainer {
    public static final int MASK_ID = 259;
    /** The first id after the fixed ids; characters and merges start here. */
    public static final int FIRST_MERGE_ID = MASK_ID + 1;
    /** The MASK piece: a control character first, so no text encodes to it. */
    public static final String MASK_PIECE = "\u0001<mask>";

    private static final Pattern WORDS = Pattern.compile(" ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+");

    private BpeTrainer() {
    }

    /** The trained vocabulary: pieces by id and their scores. */
    public record Vocabulary(List<String> pieces, float[] scores) {
        public int size() {
            return pieces.size();
        }

        /** Writes llama2.c's tokenizer.bin: int32 max_token_length, then per id float32 score, int32 length, bytes. */
        public void write(Path file) throws IOException {
            int maxLen = 0;
            for (String p : pieces) {
                maxLen = Math.max(maxLen, p.getBytes(StandardCharsets.UTF_8).length);
            }
            Path parent = file.toAbsolutePath().getParent();
            Files.createDirectories(parent);
            Path tmp = Files.createTempFile(parent, "tokenizer", ".tmp");
            try (OutputStream out = Files.newOutputStream(tmp)) {
                out.write(le(4).putInt(maxLen).array());
                for (int i = 0; i < pieces.size(); i++) {
                    byte[] b = pieces.get(i).getBytes(StandardCharsets.UTF_8);
                    out.write(le(8).putFloat(scores[i]).putInt(b.length).array());
                    out.write(b);
                }
            }
            Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            Permissions.readable(file);
        }

        private static ByteBuffer le(int n) {
            return ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN);
        }
    }

    /**
     * Learns merges on {@code texts} (each with llama2.c's dummy-prefix space, as encode sees it) until the
     * vocabulary has {@code vocabSize} ids or no pair occurs twice.
     */
    public static Vocabulary train(List<String> texts, int vocabSize) {
        if (vocabSize <= FIRST_MERGE_ID) {
            throw ArborException.invalid("BPE vocab_size must exceed " + FIRST_MERGE_ID + ", got " + vocabSize);
        }
        Map<String, Integer> wordCounts = new HashMap<>();
        TreeMap<Integer, Integer> charCounts = new TreeMap<>();
        for (String t : texts) {
            Matcher m = WORDS.matcher(" " + t);
            while (m.find()) {
                wordCounts.merge(m.group(), 1, Integer::sum);
            }
            (" " + t).codePoints().forEach(cp -> charCounts.merge(cp, 1, Integer::sum));
        }
        List<String> pieces = new ArrayList<>();
        List<Float> scores = new ArrayList<>();
        pieces.add("<unk>");
        pieces.add("\n<s>\n");
        pieces.add("\n</s>\n");
        for (int b = 0; b < 256; b++) {
            pieces.add(String.format("<0x%02X>", b));
        }
        pieces.add(MASK_PIECE);
        for (int i = 0; i < pieces.size(); i++) {
            scores.add(0f);
        }
        // One piece per character, most frequent first (ties by code point), controls left to byte fallback.
        List<Map.Entry<Integer, Integer>> chars = new ArrayList<>(charCounts.entrySet());
        chars.sort((a, b) -> b.getValue().equals(a.getValue()) ? Integer.compare(a.getKey(), b.getKey())
                : Integer.compare(b.getValue(), a.getValue()));
        for (Map.Entry<Integer, Integer> e : chars) {
            if (pieces.size() >= vocabSize) {
                break;
            }
            if (!Character.isISOControl(e.getKey()) || e.getKey() == '\n' || e.getKey() == '\t') {
                pieces.add(new String(Character.toChars(e.getKey())));
                scores.add(-1e6f);
            }
        }
        // Each word type as a list of symbols (initially its characters), with its count.
        List<List<String>> words = new ArrayList<>();
        List<Integer> counts = new ArrayList<>();
        for (Map.Entry<String, Integer> e : new LinkedHashMap<>(new TreeMap<>(wordCounts)).entrySet()) {
            List<String> syms = new ArrayList<>();
            e.getKey().codePoints().forEach(cp -> syms.add(new String(Character.toChars(cp))));
            words.add(syms);
            counts.add(e.getValue());
        }
        int rank = 0;
        while (pieces.size() < vocabSize) {
            Map<String, long[]> pairCounts = new HashMap<>();
            for (int w = 0; w < words.size(); w++) {
                List<String> syms = words.get(w);
                for (int i = 0; i + 1 < syms.size(); i++) {
                    pairCounts.computeIfAbsent(syms.get(i) + "\u0000" + syms.get(i + 1), k -> new long[1])[0] +=
                            counts.get(w);
                }
            }
            String best = null;
            long bestCount = 1;
            for (Map.Entry<String, long[]> e : pairCounts.entrySet()) {
                long c = e.getValue()[0];
                // Ties broken by the pair's text so training is deterministic whatever the hash order.
                if (c > bestCount || (c == bestCount && best != null && e.getKey().compareTo(best) < 0)) {
                    best = e.getKey();
                    bestCount = c;
                }
            }
            if (best == null) {
                break;
            }
            int sep = best.indexOf('\u0000');
            String left = best.substring(0, sep);
            String right = best.substring(sep + 1);
            String merged = left + right;
            for (List<String> syms : words) {
                for (int i = 0; i + 1 < syms.size(); i++) {
                    if (syms.get(i).equals(left) && syms.get(i + 1).equals(right)) {
                        syms.set(i, merged);
                        syms.remove(i + 1);
                    }
                }
            }
            if (!pieces.contains(merged)) {
                pieces.add(merged);
                scores.add((float) -rank);
            }
            rank++;
        }
        float[] s = new float[scores.size()];
        for (int i = 0; i < s.length; i++) {
            s[i] = scores.get(i);
        }
        return new Vocabulary(List.copyOf(pieces), s);
    }
}
