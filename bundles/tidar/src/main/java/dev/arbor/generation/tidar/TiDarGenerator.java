package dev.arbor.generation.tidar;

import dev.arbor.api.ArborException;
import dev.arbor.api.PartProperties;
import dev.arbor.api.Trait;
import dev.arbor.api.generation.FinishReason;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.Generator;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.model.StateWrite;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.api.sampling.Selection;
import dev.arbor.autoregressive.DecodeChecks;
import dev.arbor.autoregressive.DecodeLimits;
import dev.arbor.autoregressive.TokenOutput;
import dev.arbor.sampling.SamplingMath;
import dev.arbor.speculative.SpeculativeRule;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.random.RandomGenerator;
import org.osgi.service.component.annotations.Component;

/**
 * TiDAR (NVIDIA 2025, "TiDAR: Think in Diffusion, Talk in Autoregression", arXiv:2511.08923; METHODS.md §3.10):
 * one dual-mode model drafts in diffusion and verifies autoregressively in the same forward. Each forward carries
 * the causal section (the token emitted last, then the drafts {@code d_1..d_k}) and k + 1 MASK blocks, block a
 * pre-drafting the next step's k drafts for the case "a drafts accepted" ({@link TiDarLayout} has the exact
 * positions and mask). The drafts are verified with the speculative rule (METHODS.md §2.2), one token is emitted
 * from the AR rows (the correction or the bonus), the next drafts are drawn from the block matching the acceptance
 * count, and the state keeps the accepted causal tokens only (a truncate: they are a prefix of what was appended).
 * The model must have been trained for both roles (tools/forge {@code TiDarObjective}).
 *
 * <p><b>A step</b>, after checking the request's cancellation. The state holds the committed tokens but the last
 * (at the first forward: none of the prompt).
 * <ol>
 *   <li>One forward of the pending committed tokens, the drafts (at most the tokens left - 1) and the blocks
 *       ({@code min(k, left - 2)} MASKs each, fewer when the state's slots would overflow the context).</li>
 *   <li>AR row i goes through the request's {@link Sampler} with the history committed + {@code d_1..d_i}: its
 *       selection's distribution is {@code p_i}, what plain decoding draws from at that position. {@code d_{i+1}}
 *       (drawn from {@code q_{i+1}}) is accepted with probability {@code min(1, p_i(x)/q_{i+1}(x))}, a token with
 *       {@code p_i(x) = 0} never; on rejection the emitted token is drawn from {@code norm(max(0, p_i - q_{i+1}))}
 *       (from {@code p_i} should rounding leave the residual without mass) and the step ends; with every draft
 *       accepted the selector's token of row d is the bonus. Accepted tokens and the emitted one are committed and
 *       streamed in order.</li>
 *   <li>The state is truncated to the committed tokens but the emitted one; the next drafts are drawn, through the
 *       same sampler, from the rows of block a with the history committed + the drafts drawn before: those
 *       selections' distributions are the {@code q} the next step verifies against.</li>
 * </ol>
 * Since p and q are the selector's own distributions, this is exact for any draft: the emitted sequence has the
 * distribution of plain autoregressive decoding with the same chain (Leviathan et al. 2023, Appendix A.1); greedy
 * decoding (one-hot p and q) emits plain greedy's tokens, token for token.
 *
 * <p><b>Options</b>: {@code draft_length} k (1..16, default 4; the model was trained with blocks of its card's
 * draft length, shorter blocks work and draft worse), {@code mask_token_id} (default: the card's MASK id; a model
 * without one is refused), {@code max_new_tokens} (caps the request's limit).
 *
 * <p><b>Needs</b> {@link Capability#EXPLICIT_MASK} and {@link Capability#STATE_TRUNCATE} (checked on the card when a
 * request starts, naming what is missing; {@link #requirements} declares them for pipeline checks). Processors that
 * draw randomness without {@link Trait#SPECULATIVE_SAFE} are refused: they run on draft rows and again on the AR
 * rows of the same position. Every committed token was verified left to right with the processors applied to that
 * position's own history and never has processed probability zero, so {@link #commitsInOrder()} is true.
 *
 * <p><b>Randomness</b>, all from the request's seeded RNG, per step in this order: for each verified AR row the
 * selector's draw, then one uniform for the acceptance test unless the outcome is certain ({@code p >= q}: accept;
 * {@code p = 0}: reject); on rejection one uniform for the residual draw; then the selector's draw of each next
 * draft, in order.
 *
 * <p><b>Stats</b> ({@link GenerationResult#stats()}): {@code speculative.steps} (forwards, the first included),
 * {@code speculative.drafted}, {@code speculative.accepted}, {@code speculative.rejected},
 * {@code speculative.acceptance_rate} (accepted / drafted), {@code speculative.tokens_per_step} (tokens decided per
 * forward, a stop token included), {@code tidar.draft_length}, {@code tidar.forward_tokens} (new tokens sent to the
 * model, MASKs included), {@code tidar.accepted_histogram} (steps per acceptance count 0..k).
 * {@link GenerationResult#forwardPasses()} counts every forward.
 *
 * <p><b>[unverified] against the paper</b>, whose text was not available (METHODS.md marks the same): the draft length
 * and block size, the MASK-block positions and next-position targets (the layout matches the forge's
 * {@code TiDarObjective}), and that the first forward drafts from one block after the prompt.
 */
@Component(service = Generator.class, property = {PartProperties.NAME + "=tidar",
        PartProperties.DESCRIPTION + "=TiDAR: one forward verifies the drafts autoregressively and pre-drafts, in MASK "
                + "blocks, the next drafts for every acceptance count (draft_length); needs a model trained for it; "
                + "exact target distribution, greedy equals plain greedy"})
public final class TiDarGenerator implements Generator {
    static final String STEPS = "speculative.steps";
    static final String DRAFTED = "speculative.drafted";
    static final String ACCEPTED = "speculative.accepted";
    static final String REJECTED = "speculative.rejected";
    static final String ACCEPTANCE_RATE = "speculative.acceptance_rate";
    static final String TOKENS_PER_STEP = "speculative.tokens_per_step";
    static final String DRAFT_LENGTH_STAT = "tidar.draft_length";
    static final String FORWARD_TOKENS = "tidar.forward_tokens";
    static final String HISTOGRAM = "tidar.accepted_histogram";

    /** The power check's deliberately wrong rule: accept every draft without the ratio test (tests only). */
    private final boolean acceptWithoutRatio;

    public TiDarGenerator() {
        this(false);
    }

    TiDarGenerator(boolean acceptWithoutRatio) {
        this.acceptWithoutRatio = acceptWithoutRatio;
    }

    @Override
    public Set<Trait> requirements() {
        return Set.of(Trait.NEEDS_EXPLICIT_MASK, Trait.NEEDS_STATE_TRUNCATE);
    }

    @Override
    public String incompatibility(Set<Trait> processorTraits) {
        if (processorTraits.contains(Trait.USES_RANDOMNESS) && !processorTraits.contains(Trait.SPECULATIVE_SAFE)) {
            return "tidar applies the processor chain to the draft rows and again to the verifying rows of the same "
                    + "position, so a processor with trait USES_RANDOMNESS (and not SPECULATIVE_SAFE) would draw new "
                    + "randomness each time and the acceptance test could no longer keep the target distribution; "
                    + "use it with the 'autoregressive' generator";
        }
        return null;
    }

    @Override
    public boolean commitsInOrder() {
        return true;
    }

    @Override
    public GenerationResult generate(GenerationContext context, TokenSink sink) {
        Objects.requireNonNull(context, "context");
        Objects.requireNonNull(sink, "sink");
        ModelBackend model = context.model();
        ModelCard card = model.card();
        checkModel(card);
        TiDarOptions options = TiDarOptions.parse(context.options(), card);
        int[] prompt = context.prompt().clone();
        DecodeChecks.validatePrompt(prompt, card);
        int budget = DecodeLimits.budget(context, prompt.length, options.maxNewTokens());
        Sampler sampler = DecodeChecks.sampler(context);
        int index = 0;
        for (LogitsProcessor p : sampler.processors()) {
            String reason = incompatibility(p.traits());
            if (reason != null) {
                throw new ArborException(ArborException.Kind.INCOMPATIBLE, "logits processor #" + index + " ("
                        + p.getClass().getName() + "): " + reason);
            }
            index++;
        }
        if (budget <= 0) {
            return new GenerationResult(new int[0], new double[0], FinishReason.LENGTH, 0,
                    new Run(options.draftLength()).stats());
        }
        Run run = new Run(options.draftLength());
        TokenOutput output = new TokenOutput(context, sink, prompt, budget);
        try (DecodeState state = model.newState(1)) {
            run.decode(model, card, state, output, sampler, options);
        }
        return output.result(run.forwards, run.stats());
    }

    /** Refuses a backend without the explicit mask or state truncation, naming what is missing. */
    static void checkModel(ModelCard card) {
        StringBuilder missing = new StringBuilder();
        for (Capability c : new Capability[] {Capability.EXPLICIT_MASK, Capability.STATE_TRUNCATE}) {
            if (!card.supports(c)) {
                missing.append(missing.length() == 0 ? "" : " and ").append(c);
            }
        }
        if (missing.length() > 0) {
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "tidar verifies drafts and pre-drafts the next "
                    + "ones in one forward with a per-query attention mask (EXPLICIT_MASK) and drops the rejected "
                    + "drafts and the MASK blocks with DecodeState.truncate (STATE_TRUNCATE), but the backend running "
                    + card.name() + " does not offer " + missing + " (it offers " + card.capabilities() + "); run "
                    + "the model on a backend that has them (llama2.c checkpoints on onnxruntime's reference graph "
                    + "or on djl) or use generator 'autoregressive'");
        }
    }

    /** One request's loop and its counts. */
    private final class Run {
        final int draftLength;
        int forwards;
        long drafted;
        long accepted;
        long rejected;
        long decided;
        long forwardTokens;
        final long[] histogram;

        Run(int draftLength) {
            this.draftLength = draftLength;
            this.histogram = new long[draftLength + 1];
        }

        void decode(ModelBackend model, ModelCard card, DecodeState state, TokenOutput output, Sampler sampler,
                    TiDarOptions options) {
            SamplingContext history = output.history();
            RandomGenerator rng = output.random();
            int vocab = card.vocabSize();
            int[] pending = history.tokens();          // committed tokens not in the state
            int stateLength = 0;
            int[] drafts = new int[0];
            float[][] draftDistributions = new float[0][];
            while (output.hasRoom() && !output.cancelled()) {
                int committed = history.length();
                int left = output.left();
                int d = Math.min(drafts.length, left - 1);
                // Next drafts are needed only if the next step has a token to spare for them, and every slot of
                // this forward must fit the context.
                int blockLength = Math.max(0, Math.min(options.draftLength(), left - 2));
                blockLength = Math.min(blockLength, Math.max(0, (card.maxPositions() - committed - d) / (d + 1)));
                TiDarLayout layout = new TiDarLayout(stateLength, pending, java.util.Arrays.copyOf(drafts, d),
                        blockLength, options.maskToken());
                float[][] rows = model.forward(ForwardRequest.builder(new int[][] {layout.tokens()})
                        .positions(new int[][] {layout.positions()}).attention(layout.attention()).state(state)
                        .write(StateWrite.APPEND).logitRows(new int[][] {layout.logitRows()}).build()).logits()[0];
                forwards++;
                forwardTokens += layout.queryLength();
                drafted += d;
                if (rows.length != layout.logitRows().length) {
                    throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, card.name() + " returned "
                            + rows.length + " logit rows for the " + layout.logitRows().length + " requested");
                }

                int kept = 0;
                int next = -1;
                Selection nextSelection = null;
                for (int i = 0; i <= d; i++) {
                    float[] logits = DecodeChecks.checkedCopy(rows[i], card);
                    Selection target = sampler.sample(logits, history); // processes the logits in place
                    float[] p = checkedDistribution(target, vocab);
                    if (i == d) {
                        next = target.token(); // the bonus token: every draft was accepted
                        DecodeChecks.checkToken(next, card);
                        nextSelection = selection(next, p, logits).withAlternatives(target.alternatives());
                        break;
                    }
                    int x = drafts[i];
                    float[] q = draftDistributions[i];
                    double px = p[x];
                    double qx = q[x];
                    boolean accept = acceptWithoutRatio || SpeculativeRule.accept(px, qx, rng);
                    if (accept) {
                        kept++;
                        accepted++;
                        decided++;
                        // the target row's top alternatives (asked for by top_logprobs) describe this position too
                        if (!output.commit(x, selection(x, p, logits).withAlternatives(target.alternatives()))) {
                            return;
                        }
                        continue;
                    }
                    rejected++;
                    next = SpeculativeRule.resample(p, vocab, v -> q[v], rng);
                    nextSelection = selection(next, p, logits).withAlternatives(target.alternatives());
                    break;
                }
                histogram[kept]++;
                decided++;
                // Keep the committed tokens of this forward (pending + accepted drafts); drop the rest and the MASKs.
                stateLength = committed + kept;
                state.truncate(stateLength);
                if (!output.commit(next, nextSelection)) {
                    return;
                }
                pending = new int[] {next};
                // The next drafts: block `kept` was conditioned on exactly the committed tokens but `next`.
                int want = Math.min(blockLength, output.left() - 1);
                drafts = new int[Math.max(0, want)];
                draftDistributions = new float[drafts.length][];
                int base = history.length();
                for (int i = 0; i < drafts.length; i++) {
                    float[] logits = DecodeChecks.checkedCopy(rows[layout.maskRow(kept, i)], card);
                    Selection s = sampler.sample(logits, history);
                    DecodeChecks.checkToken(s.token(), card);
                    drafts[i] = s.token();
                    draftDistributions[i] = checkedDistribution(s, vocab);
                    history.append(s.token()); // later drafts' processors see the earlier drafts
                }
                history.truncate(base);
            }
        }

        Map<String, Object> stats() {
            Map<String, Object> stats = new LinkedHashMap<>();
            stats.put(STEPS, forwards);
            stats.put(DRAFTED, drafted);
            stats.put(ACCEPTED, accepted);
            stats.put(REJECTED, rejected);
            stats.put(ACCEPTANCE_RATE, drafted == 0 ? 0.0 : (double) accepted / drafted);
            stats.put(TOKENS_PER_STEP, forwards == 0 ? 0.0 : (double) decided / forwards);
            stats.put(DRAFT_LENGTH_STAT, draftLength);
            stats.put(FORWARD_TOKENS, forwardTokens);
            stats.put(HISTOGRAM, java.util.Arrays.stream(histogram).boxed().toList());
            return stats;
        }
    }

    private static float[] checkedDistribution(Selection s, int vocab) {
        float[] p = s.distribution();
        if (p == null || p.length != vocab) {
            throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, "the token selector returned "
                    + (p == null ? "no distribution" : "a distribution of " + p.length + " entries") + " but tidar's "
                    + "verification needs the distribution it draws from over all " + vocab + " ids; use selector "
                    + "'sample' or 'greedy'");
        }
        return p;
    }

    /** The selection streamed for {@code token}: p, log softmax of the processed AR logits, p(token). */
    private static Selection selection(int token, float[] p, float[] processedLogits) {
        double logProbability = processedLogits[token] - SamplingMath.logSumExp(processedLogits);
        return new Selection(token, p, logProbability, Math.exp(logProbability));
    }
}
