package dev.arbor.processor.structured.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.api.tokenizer.Tokenizer;
import dev.arbor.processor.structured.StructuredOutputFactory;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The request's stop ids end the output exactly where the constraint accepts, whatever bytes the tokenizer gives
 * them (a model's end id may differ from its tokenizer's; chat models end turns with their own ids), and after an
 * end only ends are allowed.
 */
class EndTokensTest {
    private final StructuredOutputFactory factory = new StructuredOutputFactory();

    /** tok512: "a" then "b"; 403 (" Once") stands for a model's own end id (an ordinary piece to tok512). */
    @Test
    void stopIdsAreAllowedExactlyWhereTheOutputIsComplete() {
        Tokenizer tok = Fixtures.tok512();
        int a = idOf(tok, "a");
        int b = idOf(tok, "b");
        int end = 403; // " Once"
        LogitsProcessor p = factory.create(Options.of(Map.of("regex", "ab", "end_token_ids", List.of(end))), tok);
        int[] prompt = {1};

        float[] first = row(tok.vocabSize(), p, prompt);
        assertThat(first[a]).isZero();
        assertThat(first[end]).as("the output is not complete yet").isEqualTo(Float.NEGATIVE_INFINITY);
        assertThat(first[2]).as("nor may the tokenizer's EOS end it").isEqualTo(Float.NEGATIVE_INFINITY);

        float[] done = row(tok.vocabSize(), p, prompt, a, b);
        assertThat(done[end]).as("the model's end id where the output is complete").isZero();
        assertThat(done[2]).as("and the tokenizer's EOS").isZero();
        assertThat(count(done)).isEqualTo(2);

        float[] past = row(tok.vocabSize(), p, prompt, a, b, end, a);
        assertThat(count(past)).as("past an end (tree drafts ask there) only ends are allowed").isEqualTo(2);
        assertThat(past[end]).isZero();
    }

    @Test
    void anEndBeforeTheOutputIsCompleteIsRefusedAndBadIdsAreNamed() {
        Tokenizer tok = Fixtures.tok512();
        LogitsProcessor p = factory.create(Options.of(Map.of("regex", "ab", "end_token_ids", "403")), tok);
        assertThatThrownBy(() -> row(tok.vocabSize(), p, new int[] {1}, 403)).isInstanceOf(ArborException.class)
                .hasMessageContaining("generated token 403 at position 0");
        assertThatThrownBy(() -> factory.create(Options.of(Map.of("regex", "ab", "end_token_ids", "-3")), tok))
                .hasMessageContaining("end_token_ids");
    }

    private static float[] row(int vocab, LogitsProcessor p, int[] prompt, int... generated) {
        SamplingContext ctx = SamplingContext.seeded(prompt, vocab, 1L);
        for (int t : generated) {
            ctx.append(t);
        }
        float[] logits = new float[vocab];
        p.process(logits, ctx);
        return logits;
    }

    private static int count(float[] logits) {
        int n = 0;
        for (float x : logits) {
            n += x == Float.NEGATIVE_INFINITY ? 0 : 1;
        }
        return n;
    }

    private static int idOf(Tokenizer tok, String text) {
        for (int id = 0; id < tok.vocabSize(); id++) {
            if (new String(tok.tokenBytes(id), java.nio.charset.StandardCharsets.UTF_8).equals(text)) {
                return id;
            }
        }
        throw new AssertionError("no token for " + text);
    }
}
