package dev.arbor.watermark.greenlist.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.Trait;
import dev.arbor.api.generation.Cancellation;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.postprocess.PostProcessor;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.api.tokenizer.Tokenizer;
import dev.arbor.generation.autoregressive.AutoregressiveGenerator;
import dev.arbor.sampling.internal.SampleSelectorFactory;
import dev.arbor.testkit.EnumeratedJointBackend;
import dev.arbor.testkit.ToyCausalBackend;
import dev.arbor.watermark.WatermarkReport;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/** The processor and the detector against each other, HF's seeding rules, bias 0, validation and key ids. */
class GreenlistPartsTest {
    private static final long KEY = 15485863L * 7;

    static Options options(Object... kv) {
        Map<String, Object> m = new HashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return Options.of(m);
    }

    /** A tokenizer of {@code vocab} ids with no BOS, for the detector (it reads only vocabSize and BOS). */
    static Tokenizer tokenizer(int vocab, Integer bos) {
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

            public OptionalInt bosTokenId() {
                return bos == null ? OptionalInt.empty() : OptionalInt.of(bos);
            }
        };
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> detect(int[] tokens, Tokenizer tokenizer, Options options) {
        return (Map<String, Object>) new GreenlistDetector().process(new PostProcessor.Output(tokens, "t", Map.of()),
                tokenizer, options).annotations().get(WatermarkReport.ANNOTATION);
    }

    @Test
    void lefthashAddsBiasToExactlyTheGreenListOfTheLastToken() {
        int vocab = 50;
        LogitsProcessor p = new GreenlistProcessorFactory().create(options("hashing_key", KEY, "bias", 1.5));
        float[] logits = new float[vocab];
        for (int i = 0; i < vocab; i++) {
            logits[i] = i * 0.1f;
        }
        float[] before = logits.clone();
        SamplingContext context = SamplingContext.seeded(new int[] {4, 17}, vocab, 1);
        p.process(logits, context);
        // HF: seed = hashing_key * input_ids[-1] mod (2^64 - 1); green = randperm(V)[: int(V * 0.25)]
        long seed = BigInteger.valueOf(KEY * 17).longValue();
        int[] perm = new TorchGenerator(seed).randperm(vocab);
        BitSet green = new BitSet();
        for (int i = 0; i < 12; i++) {
            green.set(perm[i]);
        }
        for (int i = 0; i < vocab; i++) {
            assertThat(logits[i]).as("id " + i).isEqualTo(green.get(i) ? before[i] + 1.5f : before[i]);
        }
        assertThat(p.traits()).contains(Trait.HISTORY_DEPENDENT);
    }

    @Test
    void lefthashSeedIsTheExactProductModulo2To64Minus1() {
        GreenlistScheme s = GreenlistScheme.from(options("hashing_key", Long.MAX_VALUE), "t");
        BigInteger expected = BigInteger.valueOf(Long.MAX_VALUE).multiply(BigInteger.valueOf(511))
                .mod(BigInteger.TWO.pow(64).subtract(BigInteger.ONE));
        assertThat(Long.toUnsignedString(s.seed(new int[] {511}, 1))).isEqualTo(expected.toString());
    }

    @Test
    void selfhashBoostsOnlyTopCandidatesThatAreInTheirOwnList() {
        int vocab = 64;
        GreenlistScheme scheme = GreenlistScheme.from(options("hashing_key", KEY, "seeding_scheme", "selfhash",
                "context_width", 2), "t");
        LogitsProcessor p = new GreenlistProcessorFactory().create(options("hashing_key", KEY, "seeding_scheme",
                "selfhash", "context_width", 2, "bias", 3.0));
        float[] logits = new float[vocab];
        SplittableRandom r = new SplittableRandom(3);
        for (int i = 0; i < vocab; i++) {
            logits[i] = (float) r.nextDouble(-2, 2);
        }
        float[] before = logits.clone();
        p.process(logits, SamplingContext.seeded(new int[] {9, 5}, vocab, 1));
        List<Integer> top = new ArrayList<>();
        for (int id : GreenlistProcessor.topCandidates(before, 40)) {
            top.add(id);
        }
        int boosted = 0;
        for (int id = 0; id < vocab; id++) {
            boolean own = scheme.greenList(scheme.seed(new int[] {5, id}, 2), vocab).get(id);
            boolean expected = top.contains(id) && own;
            assertThat(logits[id]).as("id " + id).isEqualTo(expected ? before[id] + 3f : before[id]);
            boosted += expected ? 1 : 0;
        }
        assertThat(boosted).isPositive();
    }

    @Test
    void topCandidatesAreDescendingWithTiesByAscendingId() {
        assertThat(GreenlistProcessor.topCandidates(new float[] {1, 3, 3, Float.NEGATIVE_INFINITY, 2, 3}, 4))
                .containsExactly(1, 2, 5, 4);
    }

    @Test
    void historyShorterThanTheContextWidthIsLeftAlone() {
        LogitsProcessor p = new GreenlistProcessorFactory().create(options("hashing_key", KEY, "context_width", 3));
        float[] logits = {1, 2, 3, 4};
        p.process(logits, SamplingContext.seeded(new int[] {1, 2}, 4, 1));
        assertThat(logits).containsExactly(1, 2, 3, 4);
    }

    static Stream<Arguments> schemes() {
        return Stream.of(Arguments.of("lefthash", 1), Arguments.of("lefthash", 3), Arguments.of("selfhash", 1),
                Arguments.of("selfhash", 4));
    }

    /**
     * With a bias no logit can compete with, every token the processor lets through is green, so the detector —
     * computing its lists independently — finds every scored token green: z = sqrt(T(1−γ)/γ), and T is the length
     * minus the context the scheme needs.
     */
    @ParameterizedTest(name = "{0} context_width {1}")
    @MethodSource("schemes")
    void detectorAgreesWithTheProcessorOnEveryToken(String seeding, int width) {
        int vocab = 64;
        ToyCausalBackend toy = ToyCausalBackend.builder().vocabSize(vocab).seed(5).maxPositions(128).build();
        Options o = options("hashing_key", KEY, "seeding_scheme", seeding, "context_width", width, "bias", 100.0);
        int[] prompt = {3, 1, 4, 1, 5};
        int[] tokens = sample(toy, prompt, 60, 11, o);
        // the detector scores the generated tokens only, as the pipeline hands them over
        Map<String, Object> report = detect(tokens, tokenizer(vocab, null), o.with("greenlist_ratio", 0.25));
        long scored = 60 - width + (seeding.equals("selfhash") ? 1 : 0);
        assertThat(report.get("tokens_scored")).isEqualTo(scored);
        assertThat(report.get("green_tokens")).isEqualTo(scored);
        assertThat((double) report.get("z_score")).isCloseTo(Math.sqrt(scored * 0.75 / 0.25), within(1e-9));
        assertThat(report.get("detected")).isEqualTo(true);
        assertThat(report.get("scheme")).isEqualTo("kirchenbauer-greenlist");
        assertThat(report.keySet()).startsWith("scheme", "key_id", "tokens_scored", "green_tokens", "green_fraction",
                "z_score", "p_value", "threshold", "detected");
    }

    private static int[] sample(dev.arbor.api.model.ModelBackend model, int[] prompt, int tokens, long seed,
                                Options watermark) {
        List<LogitsProcessor> chain = watermark == null ? List.of()
                : List.of(new GreenlistProcessorFactory().create(watermark));
        GenerationContext ctx = new GenerationContext(model, null, prompt, tokens,
                () -> new Sampler(chain, new SampleSelectorFactory().create(Options.empty())), new int[0], seed,
                Options.empty(), Cancellation.NEVER);
        return new AutoregressiveGenerator().generate(ctx, TokenSink.DISCARD).tokens();
    }

    @Test
    void biasZeroChangesNothingAndBiasTwoDoes() {
        EnumeratedJointBackend joint = EnumeratedJointBackend.randomVariableLength(4, 5, 11);
        ToyCausalBackend toy = ToyCausalBackend.builder().vocabSize(32).seed(2).maxPositions(80).build();
        int changed = 0;
        for (long seed = 0; seed < 40; seed++) {
            int[] bos = {joint.boundaryToken()};
            assertThat(sample(joint, bos, 5, seed, options("hashing_key", KEY, "bias", 0)))
                    .containsExactly(sample(joint, bos, 5, seed, null));
            int[] plain = sample(toy, new int[] {1}, 40, seed, null);
            assertThat(sample(toy, new int[] {1}, 40, seed, options("hashing_key", KEY, "bias", 0.0,
                    "seeding_scheme", "selfhash"))).containsExactly(plain);
            if (!java.util.Arrays.equals(plain, sample(toy, new int[] {1}, 40, seed, options("hashing_key", KEY)))) {
                changed++;
            }
        }
        assertThat(changed).as("bias 2 must change some of the 40 outputs").isGreaterThan(30);
    }

    @Test
    void detectorDropsALeadingBosAndReportsShortTextsWithoutFailing() {
        Options o = options("hashing_key", KEY);
        Map<String, Object> one = detect(new int[] {1, 7}, tokenizer(16, 1), o);
        assertThat(one.get("tokens_scored")).isEqualTo(0L);
        assertThat(one.get("detected")).isEqualTo(false);
        assertThat((String) one.get("note")).contains("nothing to score");
        assertThat(detect(new int[] {1, 7, 8}, tokenizer(16, 1), o).get("tokens_scored")).isEqualTo(1L);
        assertThat(detect(new int[] {1, 7, 8}, tokenizer(16, null), o).get("tokens_scored")).isEqualTo(2L);
    }

    @Test
    void ignoreRepeatedNgramsCountsEachDistinctNgramOnce() {
        int[] tokens = {5, 6, 5, 6, 5, 6, 5};
        Options o = options("hashing_key", KEY);
        assertThat(detect(tokens, tokenizer(16, null), o).get("tokens_scored")).isEqualTo(6L);
        assertThat(detect(tokens, tokenizer(16, null), o.with("ignore_repeated_ngrams", true)).get("tokens_scored"))
                .isEqualTo(2L);
    }

    @Test
    void lefthashWithAWiderContextCountsEachTestOnceNotEachNgram() {
        // lefthash seeds by the last context token only: (1, 5, 6) and (2, 5, 6) are the same test "6 in list(5)"
        int[] tokens = {1, 5, 6, 2, 5, 6, 3, 5, 6};
        Options o = options("hashing_key", KEY, "context_width", 2, "ignore_repeated_ngrams", true);
        Map<String, Object> r = detect(tokens, tokenizer(16, null), o);
        // seven scored positions, seven distinct trigrams (HF would score 7), but five distinct tests:
        // 6 in list(5) three times, then 2 in list(6), 5 in list(2), 3 in list(6), 5 in list(3)
        assertThat(r.get("tokens_scored")).isEqualTo(5L);
        assertThat(r.get("distinct_tests")).isEqualTo(5);
        assertThat(detect(tokens, tokenizer(16, null), o.with("ignore_repeated_ngrams", false))
                .get("tokens_scored")).isEqualTo(7L);
    }

    @Test
    void pValuesAreExactForARandomKeyNotNormal() {
        // one position repeated 20 times: a single test, green with probability 1/4 under a random key, whatever
        // the count; the normal approximation of 20 independent tokens would call an all-green text p ~ 1e-11
        int[] tokens = new int[41];
        for (int i = 0; i < tokens.length; i++) {
            tokens[i] = i % 2 == 0 ? 5 : 6;
        }
        Options o = options("hashing_key", KEY, "greenlist_ratio", 0.25);
        Map<String, Object> r = detect(tokens, tokenizer(16, null), o);
        // two distinct tests (5 -> 6, 6 -> 5), 20 occurrences each, in independent lists of 4 of 16 ids
        double p = (double) r.get("p_value");
        long green = (long) r.get("green_tokens");
        double expected = green == 0 ? 1 : green == 20 ? 1 - 0.75 * 0.75 : 0.25 * 0.25;
        assertThat(p).isCloseTo(expected, within(1e-12));
        assertThat(r.get("detected")).isEqualTo(false);
    }

    @Test
    void missingKeyIsRefusedWithWhereToConfigureIt() {
        for (Runnable r : List.<Runnable>of(() -> new GreenlistProcessorFactory().create(Options.empty()),
                () -> detect(new int[] {1, 2}, tokenizer(8, null), options("hashing_key", " ")))) {
            assertThatThrownBy(r::run).isInstanceOfSatisfying(ArborException.class,
                    e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.INVALID_INPUT))
                    .hasMessageContaining("needs option 'hashing_key'")
                    .hasMessageContaining("no built-in key")
                    .hasMessageContaining("${arbor.watermark.key}");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"my-secret-phrase", "0", "-5", "1.5", "99999999999999999999"})
    void nonIntegerKeysAreRefusedWithoutEchoingThem(String key) {
        Throwable t = org.assertj.core.api.Assertions.catchThrowable(
                () -> new GreenlistProcessorFactory().create(options("hashing_key", key)));
        assertThat(t).isInstanceOf(ArborException.class)
                .hasMessageContaining("option 'hashing_key' of part 'watermark-greenlist' must be an integer")
                .hasMessageContaining("not shown, as it is a secret");
        if (key.length() > 3) {
            assertThat(t).hasMessageNotContaining(key);
        }
    }

    static Stream<Arguments> badOptions() {
        return Stream.of(
                Arguments.of(options("hashing_key", KEY, "greenlist_ratio", 0), "option 'greenlist_ratio' must be "
                        + "greater than 0 and less than 1"),
                Arguments.of(options("hashing_key", KEY, "greenlist_ratio", 1.0), "option 'greenlist_ratio' must be"),
                Arguments.of(options("hashing_key", KEY, "greenlist_ratio", -0.1), "option 'greenlist_ratio' must be"
                        + " between 0.0 and 1.0"),
                Arguments.of(options("hashing_key", KEY, "bias", -1), "option 'bias' must be between 0.0 and 100.0"),
                Arguments.of(options("hashing_key", KEY, "bias", "strong"), "option 'bias' must be a number"),
                Arguments.of(options("hashing_key", KEY, "seeding_scheme", "minhash"),
                        "option 'seeding_scheme' must be 'lefthash' or 'selfhash', got 'minhash'"),
                Arguments.of(options("hashing_key", KEY, "context_width", 0), "option 'context_width' must be "
                        + "between 1 and 1024"));
    }

    @ParameterizedTest
    @MethodSource("badOptions")
    void badOptionsAreRefusedNamingTheOption(Options o, String message) {
        assertThatThrownBy(() -> new GreenlistProcessorFactory().create(o)).isInstanceOf(ArborException.class)
                .hasMessageContaining(message);
        if (!message.contains("'bias'")) { // the detector does not read the bias
            assertThatThrownBy(() -> detect(new int[] {1, 2, 3}, tokenizer(8, null), o))
                    .isInstanceOf(ArborException.class).hasMessageContaining(message);
        }
    }

    @Test
    void detectorRefusesBadThresholdsAndVocabularySizes() {
        assertThatThrownBy(() -> detect(new int[] {1, 2}, tokenizer(8, null), options("hashing_key", KEY,
                "z_threshold", -1))).hasMessageContaining("option 'z_threshold' must be between 0.0 and 100.0");
        assertThatThrownBy(() -> detect(new int[] {1, 2}, tokenizer(8, null), options("hashing_key", KEY,
                "ignore_repeated_ngrams", "maybe"))).hasMessageContaining("option 'ignore_repeated_ngrams' must be");
        assertThatThrownBy(() -> detect(new int[] {1, 2}, tokenizer(8, null), options("hashing_key", KEY,
                "vocab_size", 0))).hasMessageContaining("option 'vocab_size' must be between 1");
    }

    @Test
    void keyIdNamesTheKeyWithoutRevealingItAndAMismatchIsRefused() {
        Options o = options("hashing_key", KEY);
        String id = (String) detect(new int[] {1, 2, 3}, tokenizer(8, null), o).get("key_id");
        assertThat(id).hasSize(16).matches("[0-9a-f]{16}").doesNotContain(Long.toString(KEY));
        assertThat(GreenlistScheme.from(o.with("bias", 5), "t").keyId).as("bias is not part of the key").isEqualTo(id);
        assertThat(GreenlistScheme.from(o.with("hashing_key", KEY + 1), "t").keyId).isNotEqualTo(id);
        assertThat(GreenlistScheme.from(o.with("greenlist_ratio", 0.5), "t").keyId).isNotEqualTo(id);
        assertThat(GreenlistScheme.from(o.with("seeding_scheme", "selfhash"), "t").keyId).isNotEqualTo(id);
        assertThat(GreenlistScheme.from(o.with("context_width", 2), "t").keyId).isNotEqualTo(id);
        // the caller's key id matches: scored as usual (case-insensitive hex)
        assertThat(detect(new int[] {1, 2, 3}, tokenizer(8, null), o.with("key_id", id.toUpperCase()))
                .get("tokens_scored")).isEqualTo(2L);
        assertThatThrownBy(() -> detect(new int[] {1, 2, 3}, tokenizer(8, null), o.with("key_id",
                "0123456789abcdef")))
                .isInstanceOfSatisfying(ArborException.class,
                        e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.INVALID_INPUT))
                .hasMessageContaining("the text was to be checked against key id 0123456789abcdef but the pipeline's"
                        + " watermark-greenlist-detect scheme has key id " + id);
    }
}
