package dev.arbor.generation.guideddiffusion;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.model.AttentionSpec;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ForwardResult;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.model.NativeAttention;
import dev.arbor.models.llama2c.Llama2cCheckpoint;
import dev.arbor.models.llama2c.Llama2cConfig;
import dev.arbor.models.llama2c.Llama2cReferenceModel;
import dev.arbor.testkit.CardOverrideBackend;
import java.util.Arrays;
import java.util.Locale;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * METHODS.md §3.9 tests (3) and (4) on real transformers: 2-layer llama2.c networks (d = 16) with random fixed
 * weights, run by the pure-Java reference model; the diffusion model is one shown as bidirectional (MASK = id 47),
 * the guide another, causal. Its text is meaningless, its numbers are real.
 *
 * <p>(3) FreeCache is approximate for a bidirectional model: the frozen keys were computed while the generation region
 * held other tokens. Every cached forward's logits are compared with a fresh recompute of the same canvas, and the
 * outputs with and without the cache; all is printed. Asserted: the cache was read, and its error is not zero (a
 * zero would mean the measurement compares a path with itself). (4) The guide's cropped KV cache is exact: every
 * cached guide forward equals a fresh causal forward over the same tokens.
 */
class FreeCacheErrorTest {
    private static final int VOCAB = 48;
    private static final int MASK = VOCAB - 1;

    @Test
    void measuresTheFreeCacheErrorAndChecksTheGuideCache() {
        GuidedDiffusionGenerator generator = new GuidedDiffusionGenerator();
        int[] prompt = {1, 4, 9, 16, 25, 36, 2};
        int length = 40;
        double guideWorst = 0;
        int guideCompared = 0;
        for (String mode : new String[] {"prompt", "committed"}) {
            double worst = 0;
            double sumRowMax = 0;
            long rows = 0;
            long argmaxAgree = 0;
            long agree = 0;
            long total = 0;
            int cachedForwards = 0;
            for (long seed = 1; seed <= 3; seed++) {
                ModelBackend dlm = CardOverrideBackend.asDiffusion(tiny(seed), MASK, LogitAlignment.NEXT,
                        NativeAttention.BIDIRECTIONAL, 0);
                Shadow shadowDlm = new Shadow(dlm, true);
                Shadow shadowGuide = new Shadow(tiny(100 + seed), false);
                // a permissive rule so that several drafts are accepted per step and the suffix really moves
                Map<String, Object> options = Map.of("guide", TestModels.GUIDE, "strategy", "topk",
                        "acceptance_top_k", 24, "verify_batch_size", 8, "block_length", 16, "cache", mode);
                GenerationResult cached = generator.generate(TestModels.context(shadowDlm, shadowGuide, prompt,
                        length, TestModels.greedy(), new int[0], seed, options), TokenSink.DISCARD);
                Map<String, Object> noCache = new java.util.HashMap<>(options);
                noCache.put("cache", "none");
                GenerationResult plain = generator.generate(TestModels.context(dlm, tiny(100 + seed), prompt, length,
                        TestModels.greedy(), new int[0], seed, noCache), TokenSink.DISCARD);
                assertEquals(length, cached.tokens().length);
                assertEquals(length, plain.tokens().length);
                cachedForwards += (int) cached.stats().get("cached_forwards");
                worst = Math.max(worst, shadowDlm.maxDelta);
                sumRowMax += shadowDlm.sumRowMax;
                rows += shadowDlm.rows;
                argmaxAgree += shadowDlm.argmaxAgree;
                guideWorst = Math.max(guideWorst, shadowGuide.maxDelta);
                guideCompared += shadowGuide.rows;
                for (int i = 0; i < length; i++) {
                    agree += cached.tokens()[i] == plain.tokens()[i] ? 1 : 0;
                    total++;
                }
            }
            System.out.printf(Locale.ROOT, "guided-diffusion FreeCache (cache=%s) on the tiny bidirectional "
                    + "transformer: %d cached forwards, %d logit rows compared with recompute: max |delta logit| "
                    + "%.4g, mean per-row max %.4g, argmax agreement %d/%d (%.1f%%); output token agreement with "
                    + "cache=none %d/%d (%.1f%%)%n", mode, cachedForwards, rows, worst, sumRowMax / rows,
                    argmaxAgree, rows, 100.0 * argmaxAgree / rows, agree, total, 100.0 * agree / total);
            assertTrue(cachedForwards > 0 && rows > 0, "the frozen prefix was never read; nothing was measured");
            assertTrue(worst > 0, "a bidirectional transformer's frozen KV must differ from recompute");
        }
        System.out.printf(Locale.ROOT, "guided-diffusion guide KV cache: %d rows compared with a fresh causal forward, "
                + "max |delta logit| %.3g%n", guideCompared, guideWorst);
        assertTrue(guideCompared > 0);
        assertTrue(guideWorst <= 1e-5, "the guide's cropped cache must match recompute, got " + guideWorst);
    }

    private static Llama2cReferenceModel tiny(long seed) {
        Llama2cConfig config = new Llama2cConfig(16, 32, 2, 2, 2, VOCAB, 96, true);
        return new Llama2cReferenceModel(Llama2cCheckpoint.random(config, seed), "tiny-transformer-" + seed);
    }

    /**
     * Passes requests through, remembering the tokens it has been fed by position; for every forward that reads a
     * non-empty state it recomputes the same rows statelessly (Full attention for the diffusion model, causal for the
     * guide) over the tokens as they are now and records the differences.
     */
    private static final class Shadow implements ModelBackend {
        private final ModelBackend inner;
        private final boolean bidirectional;
        private final int[] tokens = new int[128];
        double maxDelta;
        double sumRowMax;
        long rows;
        long argmaxAgree;

        Shadow(ModelBackend inner, boolean bidirectional) {
            this.inner = inner;
            this.bidirectional = bidirectional;
        }

        @Override
        public ModelCard card() {
            return inner.card();
        }

        @Override
        public DecodeState newState(int batchSize) {
            return inner.newState(batchSize);
        }

        @Override
        public ForwardResult forward(ForwardRequest request) {
            int[] fed = request.tokens()[0];
            int cached = request.state() == null ? 0 : request.state().length();
            int first = request.positions() == null ? cached : request.positions()[0][0];
            for (int j = 0; j < fed.length; j++) {
                tokens[first + j] = fed[j];
            }
            ForwardResult result = inner.forward(request);
            if (cached > 0) {
                int end = first + fed.length;
                int[] relative = request.logitRows() == null
                        ? java.util.stream.IntStream.range(0, fed.length).toArray() : request.logitRows()[0];
                int[] absolute = Arrays.stream(relative).map(r -> r + first).toArray();
                float[][] fresh = inner.forward(ForwardRequest.builder(new int[][] {Arrays.copyOf(tokens, end)})
                        .attention(bidirectional ? AttentionSpec.FULL : AttentionSpec.CAUSAL)
                        .logitRows(new int[][] {absolute}).build()).logits()[0];
                float[][] got = result.logits()[0];
                for (int r = 0; r < absolute.length; r++) {
                    double rowMax = 0;
                    for (int v = 0; v < got[r].length; v++) {
                        rowMax = Math.max(rowMax, Math.abs(got[r][v] - fresh[r][v]));
                    }
                    maxDelta = Math.max(maxDelta, rowMax);
                    sumRowMax += rowMax;
                    rows++;
                    argmaxAgree += GuideVerifier.argmax(got[r]) == GuideVerifier.argmax(fresh[r]) ? 1 : 0;
                }
            }
            return result;
        }

        @Override
        public void close() {
        }
    }
}
