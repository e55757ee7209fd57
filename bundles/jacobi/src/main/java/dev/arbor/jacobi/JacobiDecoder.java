package dev.arbor.jacobi;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.Trait;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.api.sampling.Selection;
import dev.arbor.api.tokenizer.VocabularyPartition;
import dev.arbor.autoregressive.DecodeChecks;
import dev.arbor.autoregressive.DecodeLimits;
import dev.arbor.autoregressive.TokenOutput;
import dev.arbor.imagegen.CodeMask;
import dev.arbor.imagegen.ImageCanvas;
import dev.arbor.sampling.SamplingMath;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.random.RandomGenerator;

/**
 * Speculative Jacobi Decoding (Teng et al. 2024, "Accelerating Auto-regressive Text-to-Image Generation with
 * Training-free Speculative Jacobi Decoding") for a causal LM, with a pluggable {@link AcceptanceRule}, on one row or
 * on classifier-free guidance rows.
 * Specification: METHODS.md section 3.1; reference {@code github.com/tyshiwo1/Accelerating-T2I-AR-with-SJD @b389cfb :
 * scheduler/jacobi_iteration_lumina_mgpt.py} ({@code SpeculativeSampler.__call__}, {@code prefix_matching_next_tokens},
 * {@code get_multi_token_for_preparation}); GSD's copy of that file ({@code github.com/junhyukso/GSD @4216c7c}) differs
 * only in the acceptance ratio, which is why the ratio is the one pluggable piece here.
 *
 * <p><b>One iteration</b> (one target forward), with accepted tokens {@code S} and pending drafts
 * {@code d_1..d_{w-1}} carrying their draft distributions {@code q_i} (null = one-hot, for fresh drafts):
 * <ol>
 *   <li>Window {@code w = min(window, budget left)}; drafts are refilled to {@code w - 1} with fresh initialisations
 *       ({@code init=random}: uniform over the tokenizer's text partition, or the whole vocabulary without a
 *       tokenizer; {@code init=repeat}: a copy of the token to its left, LlamaGen's {@code repeat_horizon}).</li>
 *   <li>Forward {@code [last(S), d_1..d_{w-1}]} appended to the KV state (the first iteration feeds the whole prompt
 *       in front instead, which doubles as the prefill), returning the {@code w} logit rows; row {@code j} predicts
 *       the token after input {@code j}.</li>
 *   <li>Every row is processed by the request's {@link Sampler} with <i>that position's</i> history
 *       ({@code S + d_1..d_j}, so penalties see what they would see in plain decoding) and the selector draws the
 *       "advanced" token {@code a_j} from the processed distribution {@code p_j} ({@link Selection#distribution()}:
 *       softmax of the processed logits when sampling, one-hot under greedy selection). p is therefore always the
 *       processed distribution, and a recycled draft's q is the p it was drawn from.</li>
 *   <li>For {@code i = 1..w-1}: draft {@code d_i} is accepted with probability {@code min(1, rule.ratio)} against
 *       {@code p_{i-1}}; at the first rejection the token is drawn from {@code norm(max(0, p_{i-1} - q_i))} and the
 *       iteration commits {@code k = i} tokens; if all are accepted, {@code a_{w-1}} is the bonus token and
 *       {@code k = w}.</li>
 *   <li>KV rollback: the state is truncated to {@code |S| - 1 + k} slots (it then holds every committed token but the
 *       last, which is the next iteration's first input).</li>
 *   <li>Drafts recycled: {@code a_k..a_{w-1}} with {@code q = p_k..p_{w-1}} become the next iteration's first drafts
 *       (they were sampled from p given a stale prefix, so their q is genuine and the acceptance stays exact).</li>
 * </ol>
 * Under greedy selection every p is one-hot, so a draft is accepted exactly when it is the argmax and the residual
 * is the argmax: the output equals plain greedy decoding token for token, at any window.
 *
 * <p><b>RNG consumption</b> (all from the request's seeded RNG, {@link SamplingContext#random()}), per iteration in
 * this order: one {@code nextInt} per fresh random draft (left to right); the selector's draws for rows
 * {@code 0..w-1}; for each verified draft one {@code nextDouble} only when its ratio is strictly between 0 and 1;
 * one {@code nextDouble} for the residual draw at a rejection.
 *
 * <p><b>Choices where the paper and reference leave details open</b>:
 * <ul>
 *   <li>No Jacobi "active interval": the reference runs Jacobi iterations only inside the image region; here every
 *       step is a Jacobi step (the window shrinks only at the budget).</li>
 *   <li>The residual is sampled exactly as METHODS.md section 2.2 says; the reference re-applies its logits processors
 *       (top-k) to {@code log(residual)}, which changes the distribution, and we do not. If rounding leaves the
 *       residual without mass (only possible when p and q agree to float precision) the token is drawn from p.</li>
 *   <li>A verification whose ratio is NaN is a rejection (the reference's {@code r < NaN}).</li>
 *   <li>{@code speculative.drafted} counts every draft placed in a window, also those after the first rejection,
 *       so {@code acceptance_rate = accepted / drafted} is the fraction of drafted positions that became output.</li>
 * </ul>
 *
 * <p><b>Classifier-free guidance rows</b> (METHODS.md §3.1 "CFG doubles the batch", §3.2), as SJD and GSD run on
 * Lumina-mGPT and LlamaGen: when {@code guidance_scale} is not inert the target is two rows, the conditional one
 * (the prompt + S) and the unconditional one (an unconditional context + the same S: option
 * {@code negative_prompt} / {@code negative_prompt_ids}, else {@code [BOS]} for text as for the {@code cfg}
 * generator, the null class token for images), fed the same window in one batch-2 forward on one two-row state
 * when the backend lists BATCH (and PADDING if the two contexts differ in length; the shorter is left-padded),
 * else on two single-row states (two forwards). Each window row's pair is combined with
 * {@link dev.arbor.guidance.Guidance#combine} ({@code uncond + s·(cond − uncond)} in the default LlamaGen
 * convention, step index = the token's position among the generated ones, so ramps move over tokens)
 * <i>before</i> the processor chain, so p and every recycled q are the same processed guided
 * distribution and the acceptance stays exact for the guided target {@code ∝ p(x|c)^s·p(x)^(1−s)} per step. A
 * rejection truncates both rows to the accepted length. Inert guidance (s = 1, the text default) is the one-row loop
 * above, bit for bit. Without the cache the two rows are two stateless forwards per iteration.
 *
 * <p><b>Image requests</b> (the pipeline's tokenizer is an {@link dev.arbor.api.image.ImageTokenizer}): the prompt
 * must be one class token, the unconditional row is the null class token, exactly
 * {@link dev.arbor.api.image.ImageLayout#tokensPerImage()} tokens are generated (a smaller limit is refused; stop
 * tokens do not apply; the partial image is streamed as a canvas after every image row, as raster-ar does), every
 * window row keeps codes only (ids {@code >= codes} get {@code -inf} after the combine, before the chain), and
 * fresh random drafts are uniform over the codes (Lumina-mGPT/GSD); {@code repeat_horizon} copies the left
 * neighbour (LlamaGen). The Jacobi "active interval" of the reference is the whole image here: a raster prior's
 * sequence is the class token and the codes only, without row-end tokens to skip.
 *
 * <p><b>Options</b>: {@code window} (W, default 16 as in the reference tests; 1 is plain autoregressive decoding),
 * {@code init} or {@code draft_init} ({@code random} | {@code repeat}, alias {@code repeat_horizon}),
 * {@code use_cache} (default true; false is the stateless reference path: every iteration recomputes
 * {@code S + drafts} without a state), {@code max_new_tokens} (can only lower the platform's limit);
 * {@code guidance_scale} (default 1 = off for text, 2 for images as raster-ar), {@code cfg_convention},
 * {@code cfg_ramp} ({@link
 * dev.arbor.guidance.Guidance#read}), {@code negative_prompt} / {@code negative_prompt_ids} (the unconditional
 * context; text default {@code [BOS]}, image default the null class). Prompt validation, budget and stop handling
 * are those of the autoregressive generator; with guidance both rows must fit the context.
 *
 * <p><b>Stats</b>: {@code speculative.steps} (iterations), {@code speculative.drafted},
 * {@code speculative.accepted}, {@code speculative.acceptance_rate}, {@code speculative.tokens_per_step} (emitted
 * tokens per iteration), plus {@code jacobi.window}, {@code jacobi.init}, {@code jacobi.rule}, {@code use_cache},
 * {@code budget}, {@code forward_tokens} (tokens fed, summed over rows, padding included), {@code decode_nanos};
 * guided: {@code cfg.scale}, {@code cfg.convention}, {@code cfg.ramp}, {@code cfg.mode} ({@code batch} |
 * {@code two_states}), {@code cfg.unconditional} (where the unconditional context came from), {@code cfg.guided_rows};
 * images: {@code image.tokens}. {@code GenerationResult.forwardPasses()} counts backend calls (a batch-2 call once),
 * which equals the iterations except with two separate states.
 */
public final class JacobiDecoder {
    /** Option: draft window length W (tokens fed per forward). */
    public static final String WINDOW = "window";
    /** Option: how fresh drafts are initialised, {@code random} or {@code repeat}. */
    public static final String INIT = "init";
    /**
     * Option: the same as {@link #INIT} under the SJD reference's name, {@code random} or {@code repeat_horizon}
     * (LlamaGen's scheme; {@code repeat} is accepted too).
     */
    public static final String DRAFT_INIT = "draft_init";
    /**
     * Option: false selects the stateless reference path.
     *
     * @deprecated the family's options are read in {@link DecodeLimits}; use {@link DecodeLimits#USE_CACHE}
     */
    @Deprecated
    public static final String USE_CACHE = DecodeLimits.USE_CACHE;
    /**
     * Option: caps the new tokens below {@link GenerationContext#maxNewTokens()}.
     *
     * @deprecated the family's budget is decided in {@link DecodeLimits}; use {@link DecodeLimits#MAX_NEW_TOKENS}
     */
    @Deprecated
    public static final String MAX_NEW_TOKENS = DecodeLimits.MAX_NEW_TOKENS;
    /** Default window, from the SJD reference tests ({@code max_num_new_tokens = 16}). */
    public static final int DEFAULT_WINDOW = 16;
    /** Largest window accepted (a forward of W tokens and W rows of logits per iteration). */
    public static final int MAX_WINDOW = 256;

    /** How fresh drafts are chosen. */
    public enum Init {
        /** Uniform over the text partition of the vocabulary (Lumina-mGPT, Emu3 and GSD use uniform random). */
        RANDOM,
        /** A copy of the token to the left (LlamaGen's {@code repeat_horizon}). */
        REPEAT
    }

    /**
     * The validated common options.
     *
     * @param window   W
     * @param init     fresh-draft scheme
     * @param useCache false = stateless reference path
     * @param cap      {@code max_new_tokens} (Integer.MAX_VALUE when absent)
     */
    public record Settings(int window, Init init, boolean useCache, int cap) {

        /** Reads and validates the options; a bad value fails with a message naming the key and what is allowed. */
        public static Settings of(Options options) {
            int window = options.integer(WINDOW, DEFAULT_WINDOW, 1, MAX_WINDOW);
            Init scheme = init(options, INIT, null);
            Init drafts = init(options, DRAFT_INIT, null);
            if (scheme != null && drafts != null && scheme != drafts) {
                throw ArborException.invalid("options '" + INIT + "' and '" + DRAFT_INIT + "' both say how fresh "
                        + "drafts are initialised and disagree ('" + options.string(INIT, "") + "' vs '"
                        + options.string(DRAFT_INIT, "") + "'); give one of them");
            }
            Init chosen = scheme != null ? scheme : drafts != null ? drafts : Init.RANDOM;
            boolean useCache = DecodeLimits.useCache(options);
            int cap = DecodeLimits.cap(options);
            return new Settings(window, chosen, useCache, cap);
        }

        private static Init init(Options options, String key, Init absent) {
            if (!options.has(key)) {
                return absent;
            }
            String init = options.string(key, "random").trim().toLowerCase(Locale.ROOT);
            return switch (init) {
                case "random" -> Init.RANDOM;
                case "repeat", "repeat_horizon" -> Init.REPEAT;
                default -> throw ArborException.invalid("option '" + key + "' must be 'random' (uniform over the "
                        + "vocabulary, or over the codes of an image) or 'repeat' / 'repeat_horizon' (copy the token "
                        + "to the left), got '" + options.string(key, "") + "'");
            };
        }
    }

    private JacobiDecoder() {
    }

    /**
     * The reason a processor with {@code traits} cannot be honoured, or null. Processors are applied to every window
     * row once per iteration and rows after a rejection are discarded, so a processor that draws from the request's
     * RNG while processing would make p and q different random functions and shift the RNG stream; it is refused
     * unless it declares itself {@link Trait#SPECULATIVE_SAFE}.
     */
    public static String processorIncompatibility(Set<Trait> traits) {
        if (traits.contains(Trait.USES_RANDOMNESS) && !traits.contains(Trait.SPECULATIVE_SAFE)) {
            return "it draws from the request's RNG while processing logits and is not SPECULATIVE_SAFE; Jacobi "
                    + "decoding processes every window position once per iteration and discards rows after a "
                    + "rejection, so its processed distributions p and q would not be the same function of the "
                    + "history; use the 'autoregressive' generator with it";
        }
        return null;
    }

    /** Decodes one request with SJD's token ratio ({@link TokenRatioRule}); the options are validated here. */
    public static GenerationResult generate(GenerationContext context, TokenSink sink) {
        return generate(context, sink, TokenRatioRule.INSTANCE, Settings.of(context.options()));
    }

    /** Decodes one request with {@code rule}; the options are validated here. */
    public static GenerationResult generate(GenerationContext context, TokenSink sink, AcceptanceRule rule) {
        return generate(context, sink, rule, Settings.of(context.options()));
    }

    /** Decodes one request with {@code rule} and already validated {@code settings}. */
    public static GenerationResult generate(GenerationContext context, TokenSink sink, AcceptanceRule rule,
                                            Settings settings) {
        Objects.requireNonNull(context, "context");
        Objects.requireNonNull(sink, "sink");
        Objects.requireNonNull(rule, "rule");
        Objects.requireNonNull(settings, "settings");
        return new Run(context, sink, rule, settings).decode();
    }

    /** The state of one request. */
    private static final class Run {
        private final AcceptanceRule rule;
        private final Settings settings;
        private final ModelBackend model;
        private final ModelCard card;
        private final int vocab;
        private final int[] prompt;
        private final RowGuidance rows;
        private final TokenSink sink;
        private final int budget;
        private final Sampler sampler;
        private final SamplingContext history;
        private final RandomGenerator rng;
        private final int initLow;
        private final int initHigh;

        /** Pending drafts for the next iteration and their draft distributions (null = one-hot). */
        private int[] drafts = new int[0];
        private double[][] draftQ = new double[0][];

        private final TokenOutput output;
        private int steps;
        private long drafted;
        private long accepted;
        private int guidedRows;

        Run(GenerationContext context, TokenSink sink, AcceptanceRule rule, Settings settings) {
            this.rule = rule;
            this.settings = settings;
            this.model = context.model();
            this.card = model.card();
            this.vocab = card.vocabSize();
            this.prompt = context.prompt().clone();
            DecodeChecks.validatePrompt(prompt, card);
            this.rows = RowGuidance.read(context);
            this.sink = sink;
            if (settings.useCache() && !card.supports(Capability.STATE_TRUNCATE)) {
                throw new ArborException(ArborException.Kind.INCOMPATIBLE, "Jacobi decoding rolls the KV cache back "
                        + "after a rejection, but " + card.name() + " does not offer " + Capability.STATE_TRUNCATE
                        + "; use a backend whose state supports truncate, or option use_cache=false (stateless, "
                        + "recomputes the whole sequence every iteration)");
            }
            this.budget = budget(context, settings, prompt.length, rows);
            this.sampler = DecodeChecks.sampler(context);
            // An image is exactly tokensPerImage codes: stop tokens do not apply (a prior without a card sidecar
            // gets llama2.c's default EOS, id 1, which is a code of an image vocabulary).
            GenerationContext commits = !rows.image() ? context : new GenerationContext(model, context.tokenizer(),
                    context.prompt(), context.maxNewTokens(), context.samplers(), new int[0], context.seed(),
                    context.options(), context.cancellation(), context.models());
            this.output = new TokenOutput(commits, sink, prompt, budget);
            this.history = output.history();
            this.rng = output.random();
            int low = 0;
            int high = vocab;
            if (rows.image()) {
                // Only codes are image tokens (Lumina-mGPT and GSD draw fresh drafts uniformly over the image ids).
                high = rows.layout().codes();
            } else if (context.tokenizer() != null) {
                VocabularyPartition partition = context.tokenizer().partition();
                int lo = Math.max(0, partition.textStart());
                int hi = Math.min(vocab, partition.textEnd());
                if (lo < hi) {
                    low = lo;
                    high = hi;
                }
            }
            this.initLow = low;
            this.initHigh = high;
        }

        /**
         * The family's budget; with guidance both rows must fit the context (a batch-2 state holds the longer
         * context for both rows); an image is exactly {@code tokensPerImage} tokens, and a limit below that is refused.
         */
        private static int budget(GenerationContext context, Settings settings, int promptLength, RowGuidance rows) {
            int budget = DecodeLimits.budget(context, promptLength, settings.cap());
            int max = context.model().card().maxPositions();
            if (rows.guided()) {
                budget = Math.min(budget, max - Math.max(promptLength, rows.uncond().length));
            }
            if (rows.image()) {
                int tokens = rows.layout().tokensPerImage();
                if (budget < tokens) {
                    throw ArborException.invalid("an image of " + rows.layout() + " is " + tokens + " tokens, but this "
                            + "request may generate only " + budget + " (the smallest of max_tokens "
                            + context.maxNewTokens() + ", option max_new_tokens and the context of "
                            + context.model().card().name() + ", " + max + " positions" + (rows.guided()
                            ? ", for both guidance rows" : "") + "); raise the limit to " + tokens);
                }
                budget = tokens;
            }
            return budget;
        }

        GenerationResult decode() {
            long start = System.nanoTime();
            TargetRows target = TargetRows.open(model, prompt, rows.uncond(), settings.useCache() && budget > 0);
            int guidanceSteps = rows.image() ? rows.layout().tokensPerImage() : Math.max(1, budget);
            ImageCanvas canvas = rows.image() ? new ImageCanvas(sink, budget, rows.layout().nullClassToken()) : null;
            try {
                while (output.hasRoom() && !output.cancelled()) {
                    int window = Math.min(settings.window(), output.left());
                    int n = window - 1;
                    refillDrafts(n);
                    int historyLength = history.length();
                    int generated = output.generated();

                    // 1. One forward over [last(S), d_1..d_n] for every row (or each row's sequence + drafts on
                    //    the first / stateless iteration).
                    int[] s = history.tokens();
                    int[] u = rows.guided() ? unconditionalSequence(s) : null;
                    float[][][] logitRows = target.forward(s, u, Arrays.copyOf(drafts, n), window);
                    steps++;
                    drafted += n;

                    // 2. Combine each window row's guided logits, keep codes only for an image, process every row
                    //    with its own history and draw the advanced tokens.
                    float[][] processed = new float[window][];
                    float[][] distributions = new float[window][];
                    double[][] p = new double[window][];
                    int[] advanced = new int[window];
                    double[] advancedLogProb = new double[window];
                    for (int j = 0; j < window; j++) {
                        if (j > 0) {
                            history.append(drafts[j - 1]);
                        }
                        float[] logits = DecodeChecks.checkedCopy(logitRows[0][j], card);
                        if (rows.guided()) {
                            float[] uncond = DecodeChecks.checkedCopy(logitRows[1][j], card);
                            float[] combined = rows.guidance().combine(logits, uncond, generated + j, guidanceSteps,
                                    card.name());
                            guidedRows += combined == logits ? 0 : 1;
                            logits = combined;
                        }
                        if (rows.image()) {
                            CodeMask.apply(logits, rows.layout().codes());
                        }
                        Selection selection = sampler.sample(logits, history);
                        DecodeChecks.checkToken(selection.token(), card);
                        float[] dist = selection.distribution();
                        if (dist == null || dist.length != vocab) {
                            throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, "the token selector "
                                    + "returned " + (dist == null ? "no distribution" : "a distribution of "
                                    + dist.length + " entries") + " for " + card.name() + "'s vocabulary of " + vocab
                                    + "; speculative acceptance needs the processed distribution");
                        }
                        processed[j] = logits;
                        distributions[j] = dist.clone();
                        p[j] = toDouble(distributions[j]);
                        advanced[j] = selection.token();
                        advancedLogProb[j] = selection.logProbability();
                    }
                    history.truncate(historyLength);

                    // 3. Verify drafts left to right; resample from the residual at the first rejection.
                    int[] out = new int[window];
                    int k = window;
                    for (int i = 1; i < window; i++) {
                        int d = drafts[i - 1];
                        double ratio = rule.ratio(new AcceptanceRule.Verification(d, draftQ[i - 1], processed[i - 1],
                                p[i - 1]));
                        boolean accept;
                        if (ratio >= 1) {
                            accept = true;
                        } else if (!(ratio > 0)) {
                            accept = false; // 0 or NaN
                        } else {
                            accept = rng.nextDouble() < ratio;
                        }
                        if (accept) {
                            out[i - 1] = d;
                            accepted++;
                            continue;
                        }
                        out[i - 1] = residual(p[i - 1], draftQ[i - 1], d);
                        k = i;
                        break;
                    }
                    if (k == window) {
                        out[window - 1] = advanced[window - 1];
                    }

                    // 4. KV rollback: every row keeps every committed token but the last.
                    target.rollback(generated - 1 + k);

                    // 5. Recycle the un-accepted tail's advanced tokens as drafts, with their p as q.
                    drafts = Arrays.copyOfRange(advanced, k, window);
                    draftQ = Arrays.copyOfRange(p, k, window);

                    // 6. Commit.
                    boolean open = true;
                    for (int i = 0; i < k && open; i++) {
                        int token = out[i];
                        double logProb = token == advanced[i] ? advancedLogProb[i] : logSoftmaxAt(processed[i], token);
                        open = output.commit(token, new Selection(token, distributions[i], logProb, p[i][token]));
                        if (open && canvas != null) {
                            canvas.put(token);
                            if (canvas.decoded() % rows.layout().side(0) == 0) {
                                canvas.stream();
                            }
                        }
                    }
                    if (!open) {
                        break;
                    }
                }
            } finally {
                target.close();
            }
            Map<String, Object> stats = new LinkedHashMap<>();
            stats.put("speculative.steps", steps);
            stats.put("speculative.drafted", drafted);
            stats.put("speculative.accepted", accepted);
            stats.put("speculative.acceptance_rate", drafted == 0 ? 0.0 : (double) accepted / drafted);
            stats.put("speculative.tokens_per_step", steps == 0 ? 0.0 : (double) output.generated() / steps);
            stats.put("jacobi.window", settings.window());
            stats.put("jacobi.init", settings.init().name().toLowerCase(Locale.ROOT));
            stats.put("jacobi.rule", rule.getClass().getSimpleName());
            stats.put("use_cache", settings.useCache());
            stats.put("budget", budget);
            stats.put("forward_tokens", target.forwardTokens());
            if (rows.guided()) {
                stats.put("cfg.scale", rows.guidance().scale());
                stats.put("cfg.convention", rows.guidance().convention().name().toLowerCase(Locale.ROOT));
                stats.put("cfg.ramp", rows.guidance().ramp().name().toLowerCase(Locale.ROOT));
                stats.put("cfg.mode", target.mode());
                stats.put("cfg.unconditional", rows.source());
                stats.put("cfg.guided_rows", guidedRows);
            }
            if (rows.image()) {
                stats.put("image.tokens", rows.layout().tokensPerImage());
            }
            stats.put("decode_nanos", System.nanoTime() - start);
            rule.stats().forEach(stats::putIfAbsent);
            return output.result(target.calls(), stats);
        }

        /** The unconditional row's sequence: its context followed by the tokens accepted so far. */
        private int[] unconditionalSequence(int[] cond) {
            int[] uncond = rows.uncond();
            int g = cond.length - prompt.length;
            int[] out = Arrays.copyOf(uncond, uncond.length + g);
            System.arraycopy(cond, prompt.length, out, uncond.length, g);
            return out;
        }

        /** Keeps at most {@code n} pending drafts and appends fresh ones until there are {@code n}. */
        private void refillDrafts(int n) {
            int have = Math.min(drafts.length, n);
            int[] d = Arrays.copyOf(drafts, n);
            double[][] q = Arrays.copyOf(draftQ, n);
            for (int i = have; i < n; i++) {
                d[i] = switch (settings.init()) {
                    case RANDOM -> initLow + rng.nextInt(initHigh - initLow);
                    case REPEAT -> i > 0 ? d[i - 1] : history.token(history.length() - 1);
                };
                q[i] = null;
            }
            drafts = d;
            draftQ = q;
        }

        /** A draw from {@code norm(max(0, p - q))} (q one-hot at {@code draft} when null), one nextDouble. */
        private int residual(double[] p, double[] q, int draft) {
            double[] r = new double[p.length];
            double sum = 0;
            for (int y = 0; y < p.length; y++) {
                double qy = q == null ? (y == draft ? 1.0 : 0.0) : q[y];
                r[y] = Math.max(0.0, p[y] - qy);
                sum += r[y];
            }
            double u = rng.nextDouble();
            // Rounding only: p and q agree to float precision, so p itself is the right distribution.
            return SamplingMath.inverseCdf(sum > 0 ? r : p, u);
        }

        private static double logSoftmaxAt(float[] logits, int token) {
            return logits[token] - SamplingMath.logSumExp(logits);
        }

        private static double[] toDouble(float[] values) {
            double[] out = new double[values.length];
            for (int i = 0; i < out.length; i++) {
                out[i] = values[i];
            }
            return out;
        }
    }
}
