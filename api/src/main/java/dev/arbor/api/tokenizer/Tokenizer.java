package dev.arbor.api.tokenizer;

import java.util.OptionalInt;
import org.osgi.annotation.versioning.ConsumerType;

/** Converts text to token ids and back. Thread-safe and immutable once opened. */
@ConsumerType
public interface Tokenizer {

    /** Token ids of {@code text}; {@code addSpecialTokens} adds what the model expects around a prompt (e.g. BOS). */
    int[] encode(String text, boolean addSpecialTokens);

    /** Text of {@code ids}, skipping special tokens, exactly as the model's upstream decoder renders it. */
    String decode(int[] ids);

    /** Number of ids. */
    int vocabSize();

    /** Beginning-of-sequence id, if the tokenizer has one. */
    default OptionalInt bosTokenId() {
        return OptionalInt.empty();
    }

    /** End-of-sequence id, if the tokenizer has one. */
    default OptionalInt eosTokenId() {
        return OptionalInt.empty();
    }

    /** The string form of one id (its vocabulary entry), for debugging and logprob listings. */
    default String tokenText(int id) {
        return decode(new int[] {id});
    }

    /**
     * The exact bytes {@code id} appends to the decoded text when it follows generated text (empty for special
     * tokens decode skips, a lone byte for byte tokens): what grammars match against and what logprob listings show
     * as {@code bytes}. The default is the UTF-8 of {@code decode([id])}, which is exact only for tokenizers whose
     * tokens hold whole characters and no context-dependent spacing; byte-level tokenizers override it. Since 1.1.
     */
    default byte[] tokenBytes(int id) {
        return decode(new int[] {id}).getBytes(java.nio.charset.StandardCharsets.UTF_8);
    }

    /** Which part of the vocabulary an id belongs to (text, image, special), for watermark green lists. */
    default VocabularyPartition partition() {
        return VocabularyPartition.allText(vocabSize());
    }
}
