package dev.arbor.models.llama2c;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * The encoder as it was before {@link PairMerges}: llama2.c run.c's encode line by line (rescan every adjacent pair
 * for the best merge, O(n²)). Kept verbatim as the reference the fast encoder must match id for id.
 */
final class QuadraticReferenceEncoder {
    private final byte[][] pieces;
    private final float[] scores;
    private final Map<String, Integer> lookup = new HashMap<>();

    QuadraticReferenceEncoder(Llama2cTokenizer tok) {
        int v = tok.vocabSize();
        pieces = new byte[v][];
        scores = new float[v];
        for (int i = 0; i < v; i++) {
            pieces[i] = tok.piece(i);
            scores[i] = tok.score(i);
            lookup.putIfAbsent(key(pieces[i]), i);
        }
    }

    int[] encode(String text, boolean addSpecialTokens) {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        int[] tokens = new int[bytes.length + 3];
        int n = 0;
        if (addSpecialTokens) {
            tokens[n++] = Llama2cTokenizer.BOS;
        }
        if (bytes.length > 0) {
            Integer prefix = lookup.get(" ");
            tokens[n++] = prefix != null ? prefix : ' ' + 3;
        }
        int start = 0;
        while (start < bytes.length) {
            int end = start + 1;
            while (end < bytes.length && (bytes[end] & 0xC0) == 0x80 && end - start < 4) {
                end++;
            }
            Integer id = lookup.get(new String(bytes, start, end - start, StandardCharsets.ISO_8859_1));
            if (id != null) {
                tokens[n++] = id;
            } else {
                for (int i = start; i < end; i++) {
                    tokens[n++] = (bytes[i] & 0xFF) + 3;
                }
            }
            start = end;
        }
        while (true) {
            float bestScore = -1e10f;
            int bestId = -1;
            int bestIdx = -1;
            for (int i = 0; i < n - 1; i++) {
                Integer id = lookup.get(key(pieces[tokens[i]]) + key(pieces[tokens[i + 1]]));
                if (id != null && scores[id] > bestScore) {
                    bestScore = scores[id];
                    bestId = id;
                    bestIdx = i;
                }
            }
            if (bestIdx == -1) {
                break;
            }
            tokens[bestIdx] = bestId;
            System.arraycopy(tokens, bestIdx + 2, tokens, bestIdx + 1, n - bestIdx - 2);
            n--;
        }
        return Arrays.copyOf(tokens, n);
    }

    private static String key(byte[] piece) {
        return new String(piece, StandardCharsets.ISO_8859_1);
    }
}
