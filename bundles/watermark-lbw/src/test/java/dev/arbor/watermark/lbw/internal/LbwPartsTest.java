package dev.arbor.watermark.lbw.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.Trait;
import dev.arbor.api.generation.Cancellation;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.postprocess.PostProcessor;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.api.tokenizer.Tokenizer;
import dev.arbor.api.tokenizer.VocabularyPartition;
import dev.arbor.generation.autoregressive.AutoregressiveGenerator;
import dev.arbor.sampling.internal.SampleSelectorFactory;
import dev.arbor.testkit.ChiSquare;
import dev.arbor.testkit.EnumeratedJointBackend;
import dev.arbor.testkit.ToyCausalBackend;
import dev.arbor.watermark.WatermarkReport;
import java.util.Arrays;
import java.util.BitSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** The pool, the per-output draw, soft and hard embedding, the detector, bias 0, validation and key ids. */
class LbwPartsTest {
    private static final String KEY = "unit-test-key";

    static Options options(Object... kv) {
        Map<String, Object> m = new HashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return Options.of(m);
    }

    static Tokenizer tokenizer(int vocab, VocabularyPartition partition) {
        return new Tokenizer() {
            public int[] encode(String text, boolean special) {
                throw new UnsupportedOperationException();
            }

            public String decode(int[] ids) {
                return "";
            }

            public int vocabSize() {
                return vocab;
            }

            public VocabularyPartition partition() {
                return partition == null ? VocabularyPartition.allText(vocab) : partition;
            }
        };
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> detect(int[] tokens, Tokenizer tokenizer, Options options) {
        return (Map<String, Object>) new LbwDetector().process(new PostProcessor.Output(tokens, "t", Map.of()),
                tokenizer, options).annotations().get(WatermarkReport.ANNOTATION);
    }

    @Test
    void poolHoldsNKeyedListsOfRoundGammaTimesTheRange() {
        LbwScheme s = LbwScheme.from(options("key", KEY, "pool_size", 5, "green_ratio", 0.3), "t");
        BitSet[] pool = s.pool(10, 110);
        assertThat(pool).hasSize(5);
        for (BitSet list : pool) {
            assertThat(list.cardinality()).isEqualTo(30);
            assertThat(list.nextSetBit(0)).isGreaterThanOrEqualTo(10);
            assertThat(list.length()).isLessThanOrEqualTo(110);
        }
        assertThat(pool[0]).isNotEqualTo(pool[1]);
        assertThat(LbwScheme.from(options("key", KEY, "pool_size", 5, "green_ratio", 0.3), "t").pool(10, 110))
                .isEqualTo(pool);
        assertThat(LbwScheme.from(options("key", KEY + "x", "pool_size", 5, "green_ratio", 0.3), "t").pool(10, 110)[0])
                .isNotEqualTo(pool[0]);
    }

    @Test
    void theDrawnListIsUniformOverThePool() {
        LbwScheme s = LbwScheme.from(options("key", KEY), "t");
        long[] observed = new long[8];
        SplittableRandom r = new SplittableRandom(5);
        for (int i = 0; i < 8000; i++) {
            observed[s.drawList(r.nextLong())]++;
        }
        double[] expected = new double[8];
        Arrays.fill(expected, 1.0 / 8);
        ChiSquare.assertConsistent(ChiSquare.test(expected, observed), 0.001);
    }

    @Test
    void softAddsBiasToTheDrawnListAndDrawsOnceFromTheRequestRng() {
        LbwProcessor p = (LbwProcessor) new LbwProcessorFactory().create(options("key", KEY, "bias", 1.5));
        SamplingContext context = SamplingContext.seeded(new int[] {1}, 40, 9);
        float[] logits = new float[40];
        p.process(logits, context);
        long nonce = new SplittableRandom(9).nextLong();
        LbwScheme s = LbwScheme.from(options("key", KEY), "t");
        assertThat(p.drawnList()).isEqualTo(s.drawList(nonce));
        BitSet green = s.list(p.drawnList(), 0, 40);
        for (int v = 0; v < 40; v++) {
            assertThat(logits[v]).isEqualTo(green.get(v) ? 1.5f : 0f);
        }
        // exactly one draw: the context's RNG is where a fresh one would be after one nextLong
        SplittableRandom reference = new SplittableRandom(9);
        reference.nextLong();
        assertThat(context.random().nextLong()).isEqualTo(reference.nextLong());
        float[] second = new float[40];
        p.process(second, context);
        assertThat(second).containsExactly(logits);
        assertThat(p.traits()).contains(Trait.USES_RANDOMNESS).doesNotContain(Trait.HISTORY_DEPENDENT);
    }

    @Test
    void hardRemovesEveryIdOfTheRangeOutsideTheListAndLeavesTheRestAlone() {
        LbwProcessor p = (LbwProcessor) new LbwProcessorFactory().create(options("key", KEY, "mode", "hard",
                "vocab_range", "8:40"));
        float[] logits = new float[48];
        Arrays.fill(logits, 1f);
        p.process(logits, SamplingContext.seeded(new int[] {1}, 48, 3));
        BitSet green = LbwScheme.from(options("key", KEY), "t").list(p.drawnList(), 8, 40);
        assertThat(green.cardinality()).isEqualTo(8);
        for (int v = 0; v < 48; v++) {
            boolean inRange = v >= 8 && v < 40;
            assertThat(logits[v]).as("id " + v).isEqualTo(inRange && !green.get(v) ? Float.NEGATIVE_INFINITY : 1f);
        }
    }

    private static int[] sample(ModelBackend model, int[] prompt, int tokens, long seed, Options watermark,
                                LbwProcessor[] created) {
        GenerationContext ctx = new GenerationContext(model, null, prompt, tokens, () -> {
            List<LogitsProcessor> chain = List.of();
            if (watermark != null) {
                LogitsProcessor p = new LbwProcessorFactory().create(watermark);
                if (created != null) {
                    created[0] = (LbwProcessor) p;
                }
                chain = List.of(p);
            }
            return new Sampler(chain, new SampleSelectorFactory().create(Options.empty()));
        }, new int[0], seed, Options.empty(), Cancellation.NEVER);
        return new AutoregressiveGenerator().generate(ctx, TokenSink.DISCARD).tokens();
    }

    @Test
    void biasZeroOrAnEmptyListChangesNothingAndBiasTwoDoes() {
        EnumeratedJointBackend joint = EnumeratedJointBackend.randomVariableLength(4, 5, 11);
        ToyCausalBackend toy = ToyCausalBackend.builder().vocabSize(32).seed(4).maxPositions(80).build();
        int changed = 0;
        for (long seed = 0; seed < 40; seed++) {
            int[] bos = {joint.boundaryToken()};
            assertThat(sample(joint, bos, 5, seed, options("key", KEY, "bias", 0), null))
                    .containsExactly(sample(joint, bos, 5, seed, null, null));
            int[] plain = sample(toy, new int[] {1}, 40, seed, null, null);
            assertThat(sample(toy, new int[] {1}, 40, seed, options("key", KEY, "bias", 0.0), null))
                    .containsExactly(plain);
            assertThat(sample(toy, new int[] {1}, 40, seed, options("key", KEY, "green_ratio", 0), null))
                    .containsExactly(plain);
            if (!Arrays.equals(plain, sample(toy, new int[] {1}, 40, seed, options("key", KEY), null))) {
                changed++;
            }
        }
        assertThat(changed).as("bias 2 must change some of the 40 outputs").isGreaterThan(30);
    }

    /** Hard mode: every token green ⇒ with count unique z = sqrt(n(1−γ)/γ) on the drawn list, n distinct ids. */
    @Test
    void hardModeMakesEveryTokenGreenAndTheDetectorFindsTheDrawnList() {
        ToyCausalBackend toy = ToyCausalBackend.builder().vocabSize(64).seed(8).maxPositions(128).build();
        for (long seed = 0; seed < 5; seed++) {
            LbwProcessor[] created = new LbwProcessor[1];
            Options o = options("key", KEY, "mode", "hard");
            int[] tokens = sample(toy, new int[] {1}, 80, seed, o, created);
            Map<String, Object> unique = detect(tokens, tokenizer(64, null), o.with("count", "unique"));
            long distinct = Arrays.stream(tokens).distinct().count();
            assertThat(unique.get("tokens_scored")).isEqualTo(distinct);
            assertThat(unique.get("green_tokens")).isEqualTo(distinct);
            assertThat((double) unique.get("z_score")).isCloseTo(Math.sqrt(distinct * 0.75 / 0.25), within(1e-9));
            assertThat(unique.get("best_list")).isEqualTo(created[0].drawnList());
            assertThat(unique.get("detected")).isEqualTo(true);
            Map<String, Object> occurrences = detect(tokens, tokenizer(64, null), o);
            assertThat(occurrences.get("tokens_scored")).isEqualTo(80L);
            assertThat(occurrences.get("green_tokens")).isEqualTo(80L);
            assertThat(occurrences.get("best_list")).isEqualTo(created[0].drawnList());
            assertThat(occurrences.get("detected")).isEqualTo(true);
            assertThat((List<?>) occurrences.get("lists")).hasSize(8);
            assertThat(occurrences.keySet()).startsWith("scheme", "key_id", "tokens_scored", "green_tokens",
                    "green_fraction", "z_score", "p_value", "threshold", "detected");
        }
    }

    @Test
    void occurrencesZUsesTheExactRandomSubsetVariance() {
        // ids 0 (x3) and 1 (x1) over a universe of 8 with 2 green ids (gamma 0.25)
        LbwScheme s = LbwScheme.from(options("key", KEY, "pool_size", 1), "t");
        BitSet list = s.list(0, 0, 8);
        int a = list.nextSetBit(0);
        int b = list.nextClearBit(0);
        Map<String, Object> r = detect(new int[] {a, a, a, b}, tokenizer(8, null), options("key", KEY, "pool_size",
                1));
        double variance = 0.25 * 0.75 * (8.0 * (9 + 1) - 16) / 7;
        assertThat((double) r.get("z_score")).isCloseTo((3 - 0.25 * 4) / Math.sqrt(variance), within(1e-12));
        // Šidák with one list is the plain p-value; the threshold is the 1 - alpha normal quantile
        assertThat((double) r.get("p_value")).isEqualTo((double) r.get("p_value_uncorrected"));
        assertThat((double) r.get("threshold")).isCloseTo(2.3263478740, within(1e-8));
    }

    @Test
    void detectorResolvesTextAndImageRangesFromTheTokenizerPartition() {
        Tokenizer multimodal = tokenizer(100, new VocabularyPartition(0, 40, 40, 96));
        Options o = options("key", KEY, "vocab_range", "image");
        Map<String, Object> r = detect(new int[] {3, 41, 50, 97, 60}, multimodal, o);
        assertThat(r.get("vocab_range")).isEqualTo("40:96");
        assertThat(r.get("tokens_scored")).isEqualTo(3L);
        assertThat(r.get("key_id")).isEqualTo(detect(new int[] {41}, multimodal, o.with("vocab_range", "40:96"))
                .get("key_id"));
        assertThat(detect(new int[] {3, 41}, multimodal, o.with("vocab_range", "text")).get("vocab_range"))
                .isEqualTo("0:40");
        assertThatThrownBy(() -> detect(new int[] {1}, tokenizer(10, null), o))
                .hasMessageContaining("'image' but the pipeline's tokenizer has no image ids");
    }

    @Test
    void missingKeyIsRefusedWithWhereToConfigureIt() {
        for (Runnable r : List.<Runnable>of(() -> new LbwProcessorFactory().create(Options.empty()),
                () -> detect(new int[] {1}, tokenizer(8, null), options("key", "")))) {
            assertThatThrownBy(r::run).isInstanceOfSatisfying(ArborException.class,
                    e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.INVALID_INPUT))
                    .hasMessageContaining("needs option 'key'").hasMessageContaining("no built-in key")
                    .hasMessageContaining("${arbor.watermark.key}");
        }
    }

    static Stream<Arguments> badOptions() {
        return Stream.of(
                Arguments.of(options("key", KEY, "green_ratio", 1), "option 'green_ratio' must be less than 1", true),
                Arguments.of(options("key", KEY, "green_ratio", -1), "option 'green_ratio' must be between 0.0 and 1.0",
                        true),
                Arguments.of(options("key", KEY, "pool_size", 0), "option 'pool_size' must be between 1 and 1024",
                        true),
                Arguments.of(options("key", KEY, "vocab_range", "5:2"), "option 'vocab_range' must be", true),
                Arguments.of(options("key", KEY, "bias", 101), "option 'bias' must be between 0.0 and 100.0", false),
                Arguments.of(options("key", KEY, "mode", "medium"), "option 'mode' must be 'soft' or 'hard'", false),
                Arguments.of(options("key", KEY, "mode", "hard", "green_ratio", 0), "option 'green_ratio' must be "
                        + "greater than 0 in mode hard", false),
                Arguments.of(options("key", KEY, "vocab_range", "image"), "the processor sees only logits", false),
                Arguments.of(options("key", KEY, "alpha", 0), "option 'alpha' must be greater than 0", null),
                Arguments.of(options("key", KEY, "alpha", 0.7), "option 'alpha' must be between 0.0 and 0.5", null),
                Arguments.of(options("key", KEY, "count", "all"), "option 'count' must be 'occurrences' or 'unique'",
                        null),
                Arguments.of(options("key", KEY, "green_ratio", 0), "option 'green_ratio' must be greater than 0 for"
                        + " detection", null));
    }

    /** {@code both}: refused by processor and detector; false: by the processor only; null: by the detector only. */
    @ParameterizedTest
    @MethodSource("badOptions")
    void badOptionsAreRefusedNamingTheOption(Options o, String message, Boolean both) {
        if (both == null || both) {
            assertThatThrownBy(() -> detect(new int[] {1, 2}, tokenizer(8, null), o))
                    .isInstanceOf(ArborException.class).hasMessageContaining(message);
        }
        if (both == null) {
            return;
        }
        assertThatThrownBy(() -> new LbwProcessorFactory().create(o)).isInstanceOf(ArborException.class)
                .hasMessageContaining(message);
    }

    @Test
    void processorRefusesARangeBeyondTheRow() {
        LogitsProcessor p = new LbwProcessorFactory().create(options("key", KEY, "vocab_range", "0:50"));
        assertThatThrownBy(() -> p.process(new float[40], SamplingContext.seeded(new int[] {1}, 40, 1)))
                .isInstanceOf(ArborException.class).hasMessageContaining("reaches past the model's 40 logits");
    }

    @Test
    void keyIdNamesTheKeyWithoutRevealingItAndAMismatchIsRefused() {
        Options o = options("key", KEY);
        String id = (String) detect(new int[] {1, 2}, tokenizer(8, null), o).get("key_id");
        assertThat(id).matches("[0-9a-f]{16}");
        assertThat(detect(new int[] {1, 2}, tokenizer(8, null), o.with("bias", 7).with("mode", "hard")).get("key_id"))
                .isEqualTo(id);
        assertThat(detect(new int[] {1, 2}, tokenizer(8, null), o.with("pool_size", 4)).get("key_id")).isNotEqualTo(id);
        assertThat(detect(new int[] {1, 2}, tokenizer(8, null), o.with("key", "other")).get("key_id")).isNotEqualTo(id);
        assertThat(detect(new int[] {1, 2}, tokenizer(8, null), o.with("key_id", id)).get("key_id")).isEqualTo(id);
        assertThatThrownBy(() -> detect(new int[] {1, 2}, tokenizer(8, null), o.with("key_id", "ffffffffffffffff")))
                .isInstanceOfSatisfying(ArborException.class,
                        e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.INVALID_INPUT))
                .hasMessageContaining("the text was to be checked against key id ffffffffffffffff but the pipeline's "
                        + "watermark-lbw-detect scheme has key id " + id);
    }

    @Test
    void textWithoutScorableTokensIsReportedNotFailed() {
        Map<String, Object> r = detect(new int[0], tokenizer(8, null), options("key", KEY));
        assertThat(r.get("tokens_scored")).isEqualTo(0L);
        assertThat(r.get("detected")).isEqualTo(false);
        assertThat((String) r.get("note")).contains("nothing to score");
    }
}
