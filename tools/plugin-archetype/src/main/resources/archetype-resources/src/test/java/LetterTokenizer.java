package ${package};

import dev.arbor.api.tokenizer.Tokenizer;

/** A toy tokenizer for the in-framework test: the letters 'a' to 'p' are ids 0 to 15; nothing else is a token. */
final class LetterTokenizer implements Tokenizer {
    static final int VOCAB = 16;

    @Override
    public int[] encode(String text, boolean addSpecialTokens) {
        int[] ids = new int[text.length()];
        for (int i = 0; i < ids.length; i++) {
            int id = text.charAt(i) - 'a';
            if (id < 0 || id >= VOCAB) {
                throw new IllegalArgumentException("the letter tokenizer knows 'a' to 'p' only, got '"
                        + text.charAt(i) + "'");
            }
            ids[i] = id;
        }
        return ids;
    }

    @Override
    public String decode(int[] ids) {
        StringBuilder out = new StringBuilder(ids.length);
        for (int id : ids) {
            out.append((char) ('a' + id));
        }
        return out.toString();
    }

    @Override
    public int vocabSize() {
        return VOCAB;
    }
}
