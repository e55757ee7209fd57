package dev.arbor.tokenizer.huggingface;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.nio.charset.StandardCharsets;

/**
 * The exact bytes each id appends to decoded text ({@link HuggingFaceTokenizer#tokenBytes(int)}), read off the
 * tokenizer.json's decoder, because decoding a single id cannot show a token that holds part of a UTF-8 sequence
 * (the native decoder renders it as U+FFFD).
 *
 * <p>Two decoder families are exact, as Hugging Face tokenizers' decoders compute them:
 * <ul>
 *   <li>{@code ByteLevel} (GPT-2, Llama 3, Qwen): each character of the vocabulary entry stands for one byte through
 *       GPT-2's {@code bytes_to_unicode} table; an entry with a character outside the table (added tokens such as
 *       CodeGen's runs of spaces) stands for its own UTF-8, as the decoder does.</li>
 *   <li>SentencePiece-style ({@code Metaspace}, or a {@code Sequence} of {@code Replace "▁"->" "},
 *       {@code ByteFallback}, {@code Fuse}, {@code Strip}; Llama 2, Mistral): {@code <0xXX>} entries are the byte
 *       XX where the sequence has {@code ByteFallback}, and {@code ▁} is a space. The leading space that
 *       {@code Strip}/{@code Metaspace} remove from the first token of a decode call is kept: these are the bytes a
 *       token appends <em>after</em> other text.</li>
 * </ul>
 * Special tokens (which decode skips) append nothing. Any other decoder yields null here, and the tokenizer falls
 * back to {@link dev.arbor.api.tokenizer.Tokenizer}'s default (the UTF-8 of decoding the id alone).
 */
final class TokenBytes {
    private static final char METASPACE = '\u2581';

    private TokenBytes() {
    }

    /** Bytes per id, or null when the decoder is none of the supported families. */
    static byte[][] table(JsonElement decoder, String[] idToToken, boolean[] special) {
        Family family = family(decoder);
        if (family == null) {
            return null;
        }
        int[] charToByte = family.byteLevel ? inverseBytesToUnicode() : null;
        byte[][] table = new byte[idToToken.length][];
        for (int id = 0; id < idToToken.length; id++) {
            String entry = idToToken[id];
            if (entry == null || special[id]) {
                table[id] = new byte[0];
            } else if (family.byteLevel) {
                table[id] = byteLevel(entry, charToByte);
            } else {
                table[id] = sentencePiece(entry, family.byteFallback);
            }
        }
        return table;
    }

    /** Which decoder family the tokenizer.json names; null when unsupported. */
    private record Family(boolean byteLevel, boolean byteFallback) {
    }

    private static Family family(JsonElement decoder) {
        if (!(decoder instanceof JsonObject object) || object.get("type") == null) {
            return null;
        }
        String type = object.get("type").getAsString();
        switch (type) {
            case "ByteLevel":
                return new Family(true, false);
            case "Metaspace":
                return metaspaceReplacement(object) ? new Family(false, false) : null;
            case "Sequence":
                break;
            default:
                return null;
        }
        if (!(object.get("decoders") instanceof JsonArray decoders)) {
            return null;
        }
        boolean byteLevel = false;
        boolean spaces = false;
        boolean byteFallback = false;
        for (JsonElement element : decoders) {
            if (!(element instanceof JsonObject inner) || inner.get("type") == null) {
                return null;
            }
            switch (inner.get("type").getAsString()) {
                case "ByteLevel" -> byteLevel = true;
                case "Metaspace" -> {
                    if (!metaspaceReplacement(inner)) {
                        return null;
                    }
                    spaces = true;
                }
                case "Replace" -> {
                    if (!replacesMetaspaceBySpace(inner)) {
                        return null;
                    }
                    spaces = true;
                }
                case "ByteFallback" -> byteFallback = true;
                case "Fuse" -> {
                    // joins tokens: no change to any token's bytes
                }
                case "Strip" -> {
                    // strips the start of the first token of a decode call only: not bytes appended after text
                }
                default -> {
                    return null;
                }
            }
        }
        if (byteLevel) {
            return spaces || byteFallback ? null : new Family(true, false);
        }
        return spaces ? new Family(false, byteFallback) : null;
    }

    private static boolean metaspaceReplacement(JsonObject metaspace) {
        JsonElement replacement = metaspace.get("replacement");
        return replacement == null || replacement.getAsString().equals(String.valueOf(METASPACE));
    }

    private static boolean replacesMetaspaceBySpace(JsonObject replace) {
        return replace.get("pattern") instanceof JsonObject pattern && pattern.get("String") != null
                && pattern.get("String").getAsString().equals(String.valueOf(METASPACE))
                && replace.get("content") != null && replace.get("content").getAsString().equals(" ");
    }

    private static byte[] byteLevel(String entry, int[] charToByte) {
        byte[] out = new byte[entry.length()];
        for (int i = 0; i < entry.length(); i++) {
            char c = entry.charAt(i);
            int b = c < charToByte.length ? charToByte[c] : -1;
            if (b < 0) {
                // the ByteLevel decoder keeps an entry with any character outside the table as its own UTF-8
                return entry.getBytes(StandardCharsets.UTF_8);
            }
            out[i] = (byte) b;
        }
        return out;
    }

    private static byte[] sentencePiece(String entry, boolean byteFallback) {
        if (byteFallback && entry.length() == 6 && entry.startsWith("<0x") && entry.endsWith(">")) {
            try {
                return new byte[] {(byte) Integer.parseInt(entry.substring(3, 5), 16)};
            } catch (NumberFormatException e) {
                // not a byte token: an ordinary entry that looks like one
            }
        }
        return entry.replace(METASPACE, ' ').getBytes(StandardCharsets.UTF_8);
    }

    /**
     * The inverse of GPT-2's {@code bytes_to_unicode}: printable Latin-1 bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') stand
     * for themselves, the other 68 bytes, in order, for U+0100 upwards. Index: char, value: byte or -1.
     */
    static int[] inverseBytesToUnicode() {
        int[] inverse = new int[256 + 68];
        java.util.Arrays.fill(inverse, -1);
        int next = 256;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            inverse[printable ? b : next++] = b;
        }
        return inverse;
    }
}
