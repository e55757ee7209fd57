package dev.arbor.processor.structured.internal;

import dev.arbor.api.Options;
import dev.arbor.api.tokenizer.Tokenizer;
import dev.arbor.models.llama2c.Llama2cTokenizer;
import dev.arbor.testkit.SharedModels;
import dev.arbor.tokenizer.huggingface.HuggingFaceTokenizer;
import java.io.ByteArrayOutputStream;

/** The real tokenizers of the shared models, opened once per test JVM. */
final class Fixtures {
    private static Tokenizer tok512;
    private static Tokenizer gpt2;

    private Fixtures() {
    }

    /** stories260K's tok512 (llama2.c, byte fallback, vocabulary 512). */
    static synchronized Tokenizer tok512() {
        if (tok512 == null) {
            tok512 = Llama2cTokenizer.read(SharedModels.require("stories260K/tok512.bin"), 0);
        }
        return tok512;
    }

    /** tiny-random-gpt2's tokenizer (GPT-2 byte-level BPE, vocabulary 50,295 with the added tokens). */
    static synchronized Tokenizer gpt2() {
        if (gpt2 == null) {
            gpt2 = HuggingFaceTokenizer.open(SharedModels.require("tiny-random-gpt2/tokenizer.json"), Options.empty());
        }
        return gpt2;
    }

    static byte[] bytes(Tokenizer tokenizer, int[] ids) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int id : ids) {
            out.writeBytes(tokenizer.tokenBytes(id));
        }
        return out.toByteArray();
    }
}
