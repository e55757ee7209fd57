package dev.arbor.api.tokenizer;

/**
 * Ranges of the vocabulary by kind. Text-only tokenizers have one text range; multimodal ones add image ranges.
 *
 * @param textStart  first text id
 * @param textEnd    one past the last text id
 * @param imageStart first image id (equal to imageEnd when there are none)
 * @param imageEnd   one past the last image id
 */
public record VocabularyPartition(int textStart, int textEnd, int imageStart, int imageEnd) {

    public static VocabularyPartition allText(int vocabSize) {
        return new VocabularyPartition(0, vocabSize, vocabSize, vocabSize);
    }

    public boolean isText(int id) {
        return id >= textStart && id < textEnd;
    }

    public boolean isImage(int id) {
        return id >= imageStart && id < imageEnd;
    }
}
