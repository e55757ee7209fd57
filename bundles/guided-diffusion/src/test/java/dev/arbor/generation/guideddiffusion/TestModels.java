package dev.arbor.generation.guideddiffusion;

import dev.arbor.api.Options;
import dev.arbor.api.generation.Cancellation;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.ModelResolver;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ForwardResult;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.model.NativeAttention;
import dev.arbor.api.pipeline.ModelRef;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.testkit.EnumeratedJointBackend;
import dev.arbor.testkit.TestSelectors;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.Set;
import java.util.function.Supplier;

/** Guides, an oracle diffusion model, a resolver and contexts for the guided-diffusion tests. */
final class TestModels {
    static final ModelRef TARGET = new ModelRef("test", "joint", "/models/dlm.bin", Options.empty());
    static final Map<String, Object> GUIDE = Map.of("path", "/models/guide.bin");

    private TestModels() {
    }

    static Supplier<Sampler> greedy() {
        return () -> new Sampler(List.of(), TestSelectors.ARGMAX);
    }

    static Supplier<Sampler> sampling() {
        return () -> new Sampler(List.of(), TestSelectors.INVERSE_CDF);
    }

    /** A resolver whose target is {@link #TARGET} and which opens {@code guide} for any reference, recording them. */
    static final class Resolver implements ModelResolver {
        final List<ModelRef> opened = new ArrayList<>();
        private final ModelBackend guide;

        Resolver(ModelBackend guide) {
            this.guide = guide;
        }

        @Override
        public ModelRef target() {
            return TARGET;
        }

        @Override
        public ModelBackend open(ModelRef ref) {
            opened.add(ref);
            return guide;
        }
    }

    static GenerationContext context(ModelBackend dlm, ModelBackend guide, int[] prompt, int maxNew,
                                     Supplier<Sampler> samplers, int[] stop, long seed, Map<String, ?> options) {
        return new GenerationContext(dlm, null, prompt, maxNew, samplers, stop, seed, Options.of(options),
                Cancellation.NEVER, new Resolver(guide));
    }

    /**
     * An {@link EnumeratedJointBackend} (symbols {@code 0..s-1}, BOS/EOS {@code s}) shown with the token ids of
     * {@code EnumeratedJointMaskedBackend} (MASK {@code s}, BOS/EOS {@code s+1}), so that it can guide that masked
     * model: one tokenizer for both. MASK always gets -inf.
     */
    static final class SharedIdGuide implements ModelBackend {
        private final EnumeratedJointBackend inner;
        private final int symbols;
        private final ModelCard card;

        SharedIdGuide(EnumeratedJointBackend inner, Set<Capability> capabilities) {
            this.inner = inner;
            this.symbols = inner.symbols();
            ModelCard c = inner.card();
            this.card = new ModelCard("guide(" + c.name() + ")", symbols + 2, c.maxPositions(), 0,
                    OptionalInt.of(symbols + 1), new int[] {symbols + 1}, OptionalInt.empty(), OptionalInt.empty(),
                    LogitAlignment.NEXT, NativeAttention.CAUSAL, 0,
                    capabilities.isEmpty() ? EnumSet.noneOf(Capability.class) : EnumSet.copyOf(capabilities));
        }

        SharedIdGuide(EnumeratedJointBackend inner) {
            this(inner, inner.card().capabilities());
        }

        @Override
        public ModelCard card() {
            return card;
        }

        @Override
        public DecodeState newState(int batchSize) {
            return inner.newState(batchSize);
        }

        @Override
        public ForwardResult forward(ForwardRequest request) {
            int[][] tokens = new int[request.tokens().length][];
            for (int r = 0; r < tokens.length; r++) {
                tokens[r] = request.tokens()[r].clone();
                for (int j = 0; j < tokens[r].length; j++) {
                    if (tokens[r][j] == symbols) {
                        throw new IllegalArgumentException("the guide was fed MASK");
                    }
                    if (tokens[r][j] == symbols + 1) {
                        tokens[r][j] = symbols;
                    }
                }
            }
            ForwardResult inside = inner.forward(new ForwardRequest(tokens, null, request.positions(),
                    request.attention(), request.state(), request.write(), request.logitRows(),
                    request.wantHidden()));
            float[][][] logits = inside.logits();
            float[][][] out = new float[logits.length][][];
            for (int r = 0; r < logits.length; r++) {
                out[r] = new float[logits[r].length][];
                for (int q = 0; q < logits[r].length; q++) {
                    float[] row = Arrays.copyOf(logits[r][q], symbols + 2);
                    row[symbols] = Float.NEGATIVE_INFINITY;
                    row[symbols + 1] = logits[r][q][symbols];
                    out[r][q] = row;
                }
            }
            return new ForwardResult(out, null);
        }

        @Override
        public void close() {
        }
    }

    /** The guide's greedy continuation of {@code prompt} (stateless forwards, first-maximum argmax), up to EOS. */
    static int[] guideGreedy(ModelBackend guide, int[] prompt, int maxNew) {
        List<Integer> seq = new ArrayList<>();
        for (int t : prompt) {
            seq.add(t);
        }
        int eos = guide.card().eosTokenIds()[0];
        List<Integer> out = new ArrayList<>();
        while (out.size() < maxNew && seq.size() < guide.card().maxPositions()) {
            int[] history = seq.stream().mapToInt(Integer::intValue).toArray();
            float[] row = guide.forward(ForwardRequest.builder(new int[][] {history}).lastRowOnly().build())
                    .logits()[0][0];
            int next = GuideVerifier.argmax(row);
            out.add(next);
            seq.add(next);
            if (next == eos) {
                break;
            }
        }
        return out.stream().mapToInt(Integer::intValue).toArray();
    }

    /**
     * A bidirectional, SAME-aligned masked LM that at every position proposes a fixed token: {@code oracle[p]} for
     * absolute position {@code p} (EOS past its end), whatever it is fed; so with the guide's greedy continuation as
     * {@code oracle} it drafts exactly what the guide would say. Serves state (slots are counted, not read).
     */
    static final class OracleDiffusionModel implements ModelBackend {
        private final int[] oracle;
        private final ModelCard card;
        private final int mask;
        private final int eos;

        OracleDiffusionModel(int[] oracle, int vocab, int mask, int boundary, int maxPositions) {
            this.oracle = oracle.clone();
            this.mask = mask;
            this.eos = boundary;
            this.card = new ModelCard("oracle-dlm", vocab, maxPositions, 0, OptionalInt.of(boundary),
                    new int[] {boundary}, OptionalInt.empty(), OptionalInt.of(mask), LogitAlignment.SAME,
                    NativeAttention.BIDIRECTIONAL, 0, EnumSet.of(Capability.FULL_ATTENTION, Capability.SEGMENT_MASK,
                    Capability.STATE_TRUNCATE));
        }

        @Override
        public ModelCard card() {
            return card;
        }

        @Override
        public DecodeState newState(int batchSize) {
            return new CountingState();
        }

        @Override
        public ForwardResult forward(ForwardRequest request) {
            int[] fed = request.tokens()[0];
            CountingState state = (CountingState) request.state();
            int stateLength = state == null ? 0 : state.length;
            int[] rows = request.logitRows() == null ? java.util.stream.IntStream.range(0, fed.length).toArray()
                    : request.logitRows()[0];
            float[][] logits = new float[rows.length][];
            for (int r = 0; r < rows.length; r++) {
                int position = request.positions() == null ? stateLength + rows[r] : request.positions()[0][rows[r]];
                int token = position < oracle.length ? oracle[position] : eos;
                float[] row = new float[card.vocabSize()];
                Arrays.fill(row, -20f);
                row[mask] = Float.NEGATIVE_INFINITY;
                row[token] = 0f;
                logits[r] = row;
            }
            if (state != null && request.write() instanceof dev.arbor.api.model.StateWrite.Append) {
                state.length += fed.length;
            }
            return new ForwardResult(new float[][][] {logits}, null);
        }

        @Override
        public void close() {
        }

        private static final class CountingState implements DecodeState {
            int length;

            @Override
            public int batchSize() {
                return 1;
            }

            @Override
            public int length() {
                return length;
            }

            @Override
            public void truncate(int newLength) {
                if (newLength < 0 || newLength > length) {
                    throw new IllegalArgumentException("cannot truncate " + length + " to " + newLength);
                }
                length = newLength;
            }

            @Override
            public void close() {
            }
        }
    }
}
