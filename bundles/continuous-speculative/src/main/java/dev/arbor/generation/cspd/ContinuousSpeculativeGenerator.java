package dev.arbor.generation.cspd;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.PartProperties;
import dev.arbor.api.Trait;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.Generator;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.model.EmbeddingAccess;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.autoregressive.ModelOptions;
import dev.arbor.autoregressive.TokenOutput;
import dev.arbor.guidance.Guidance;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.random.RandomGenerator;
import org.osgi.service.component.annotations.Component;

/**
 * Continuous Speculative Decoding (CSpD; Wang et al. 2025, "Continuous Speculative Decoding for Autoregressive Image
 * Generation"; {@code github.com/MarkXCloud/CSpD @d91f721 : spec_decode/spec_decode_runner.py}
 * {@code SpecDecodeRunner.run}; METHODS.md §3.12) for causal continuous-token image priors with Gaussian heads: a
 * small draft prior proposes latent tokens, the target verifies them in one forward with
 * {@link GaussianAcceptance}.
 *
 * <p><b>Loop</b> (priors and sequence as {@link ContinuousArGenerator}; N latent tokens):
 * <ol>
 *   <li>Per-token noise {@code ε_i} drawn once from the request's seed and used by BOTH models ("denoising trajectory
 *       alignment": a draft token {@code μ_q + τσ_qε_i} lands where the target's own draw {@code μ_p + τσ_pε_i} would
 *       when the two heads agree).</li>
 *   <li>Token pre-filling: the first {@code floor(prefill_ratio·N)} tokens are sampled by the target alone, one
 *       forward each (ratio 1 is exactly {@code continuous-ar} with the same seed).</li>
 *   <li>Then rounds until the image is complete: the draft (its KV state catching up on the tokens decided since its
 *       last forward) proposes {@code k = min(num_draft, tokens left)} tokens autoregressively, one forward each,
 *       recording each Gaussian {@code q}; the target appends the last decided token and the k drafted tokens to its
 *       KV state in ONE forward and reads {@code p} for each of them (plus, when a token is left, the Gaussian of the
 *       token after them); the drafted tokens are verified left to right; at the first rejection that token is
 *       resampled from the residual and the rest of the round is dropped, both KV states truncated to the decided
 *       prefix; when all k are accepted, the target's extra row gives one more token {@code μ_p + τσ_pε} (the bonus
 *       token of speculative sampling).</li>
 * </ol>
 * The reference verifies the tokens of a window independently (no chain break, quirk (3)) because MAR predicts
 * them in parallel given the verified context; in a causal prior a drafted token is conditioned on the drafted tokens
 * before it, so after a rejection those later tokens (and their Gaussians) are invalid and are dropped, as in
 * Leviathan et al.'s speculative sampling. Tokens are committed (streamed as wire ids) once verified.
 *
 * <p><b>Acceptance</b> ({@code mode}): {@code textbook} (default; density ratio with true σ and the exact residual, so
 * the image has the target's law — with guidance, the law of the guided Gaussians) or {@code as_coded} (the reference
 * code's kernel ratio with variances as widths and inner temperature T, 100 resampling tries then the zero vector).
 * Both models apply the same guidance (the reference guides the draft as well).
 *
 * <p><b>Options</b>: {@code draft} (the draft prior, a registry name; or {@code draft_layers}), {@code prefill_ratio}
 * (in [0, 1], default {@value #DEFAULT_PREFILL_RATIO}, the reference class default), {@code num_draft} (1..64,
 * default {@value #DEFAULT_NUM_DRAFT}, the reference demo's), {@code mode} ({@code textbook}|{@code as_coded}),
 * {@code inner_temperature} (T of as_coded, in (0, 1000], default 42), {@code max_resample_tries} (1..1,000,000;
 * default 10,000 for textbook, 100 for as_coded), and the options of {@link ContinuousArGenerator}
 * ({@code guidance_scale}, {@code cfg_convention}, {@code cfg_ramp}, {@code temperature}).
 *
 * <p><b>Stats</b>: {@code forwards} (target forwards: {@link GenerationResult#forwardPasses()} counts these),
 * {@code cspd.draft_forwards}, {@code cspd.drafted}, {@code cspd.accepted}, {@code cspd.acceptance_rate}
 * (accepted / drafted), {@code cspd.resampled}, {@code cspd.bonus}, {@code cspd.resample_tries},
 * {@code cspd.resample_fallbacks} (resamples that hit the cap), {@code cspd.prefill_tokens}, {@code cspd.num_draft},
 * {@code cspd.mode}, {@code cspd.inner_temperature}, {@code cspd.draft}; the guidance stats of
 * {@link ContinuousArGenerator}; {@code image.class}, {@code wall_nanos}.
 */
@Component(service = Generator.class, property = {PartProperties.NAME + "=" + ContinuousSpeculativeGenerator.NAME,
        PartProperties.DESCRIPTION + "=Continuous Speculative Decoding: a continuous-latent draft prior proposes "
                + "tokens, the Gaussian-head target verifies them in one forward (draft, prefill_ratio, num_draft, "
                + "mode textbook|as_coded, inner_temperature)"})
public final class ContinuousSpeculativeGenerator implements Generator {
    /** The generator's name ({@code arbor.part}). */
    public static final String NAME = "continuous-speculative";
    /** Option: fraction of the tokens sampled by the target alone before drafting starts. */
    public static final String PREFILL_RATIO = "prefill_ratio";
    /** Option: tokens drafted per verification. */
    public static final String NUM_DRAFT = "num_draft";
    /** Option: the acceptance rule. */
    public static final String MODE = "mode";
    /** Option: T of the as_coded rule. */
    public static final String INNER_TEMPERATURE = "inner_temperature";
    /** Option: cap of resampling proposals. */
    public static final String MAX_RESAMPLE_TRIES = "max_resample_tries";
    /** The reference class default ({@code SpecDecodeRunner(ratio=0.15)}). */
    public static final double DEFAULT_PREFILL_RATIO = 0.15;
    /** The reference demo's window. */
    public static final int DEFAULT_NUM_DRAFT = 4;
    /** Largest accepted {@code num_draft}. */
    public static final int MAX_NUM_DRAFT = 64;

    /** The request's CSpD settings, checked. */
    record Settings(double prefillRatio, int numDraft, GaussianAcceptance acceptance) {

        static Settings read(Options options) {
            double ratio = options.number(PREFILL_RATIO, DEFAULT_PREFILL_RATIO, 0, 1);
            int numDraft = options.integer(NUM_DRAFT, DEFAULT_NUM_DRAFT, 1, MAX_NUM_DRAFT);
            String m = options.string(MODE, GaussianAcceptance.Mode.TEXTBOOK.wireName());
            GaussianAcceptance.Mode mode = GaussianAcceptance.Mode.parse(m);
            if (mode == null) {
                throw ArborException.invalid("option '" + MODE + "' must be textbook (density ratio, exact residual: "
                        + "the target's distribution) or as_coded (the reference code's rule), got '" + m + "'");
            }
            double t = options.number(INNER_TEMPERATURE, GaussianAcceptance.DEFAULT_INNER_TEMPERATURE, 0, 1000);
            if (t == 0) {
                throw ArborException.invalid("option '" + INNER_TEMPERATURE + "' must be positive (it divides the "
                        + "exponent of the as_coded ratio); the reference uses 42");
            }
            if (options.has(INNER_TEMPERATURE) && mode == GaussianAcceptance.Mode.TEXTBOOK) {
                throw ArborException.invalid("option '" + INNER_TEMPERATURE + "' belongs to mode as_coded; mode "
                        + "textbook uses the true density ratio. Give mode as_coded or drop inner_temperature");
            }
            int tries = options.integer(MAX_RESAMPLE_TRIES, mode == GaussianAcceptance.Mode.TEXTBOOK
                    ? GaussianAcceptance.DEFAULT_TEXTBOOK_TRIES : GaussianAcceptance.AS_CODED_TRIES, 1, 1_000_000);
            return new Settings(ratio, numDraft, new GaussianAcceptance(mode, t, tries));
        }

        /** Tokens the target samples alone. */
        int prefillTokens(int n) {
            return (int) Math.floor(prefillRatio * n);
        }
    }

    @Override
    public Set<String> modelOptions() {
        return Set.of(ModelOptions.DRAFT);
    }

    @Override
    public Set<Trait> requirements() {
        return Set.of(Trait.NEEDS_STATE_TRUNCATE);
    }

    @Override
    public String incompatibility(Set<Trait> processorTraits) {
        return ContinuousArGenerator.refuseProcessors(processorTraits, NAME);
    }

    @Override
    public GenerationResult generate(GenerationContext context, TokenSink sink) {
        Objects.requireNonNull(context, "context");
        Objects.requireNonNull(sink, "sink");
        long start = System.nanoTime();
        ModelBackend target = context.model();
        LatentImageRequest request = LatentImageRequest.open(context, NAME);
        EmbeddingAccess targetEmbeddings = request.checkPrior(target, NAME, "the target", true);
        Settings settings = Settings.read(context.options());
        Guidance guidance = ContinuousArGenerator.guidance(context);
        ModelOptions.DraftChoice choice = ModelOptions.draft(context.options(), context.models(), NAME);
        ModelBackend draftModel = context.models().open(choice.resolve(context.models()));
        EmbeddingAccess draftEmbeddings = request.checkPrior(draftModel, NAME, "the " + choice.description(), true);

        int n = request.tokens();
        int classToken = request.image().classToken();
        int nullToken = request.image().nullClassToken();
        TokenOutput tokens = new TokenOutput(context, sink, new int[] {classToken}, n * request.dim());
        double[][] eps = LatentOutput.noise(tokens.random(), n, request.dim());
        RandomGenerator rng = tokens.random();
        LatentOutput output = new LatentOutput(tokens, sink, request.codec(), target.card().vocabSize());
        GaussianAcceptance acceptance = settings.acceptance();
        int prefill = settings.prefillTokens(n);
        int drafted = 0;
        int accepted = 0;
        int resampled = 0;
        int bonus = 0;
        int tries = 0;
        int fallbacks = 0;
        LatentRows p = new LatentRows(target, targetEmbeddings, LatentRows.Mode.of(guidance, target.card()),
                classToken, nullToken, guidance, n, request.temperature());
        LatentRows q = null;
        try {
            q = new LatentRows(draftModel, draftEmbeddings, LatentRows.Mode.of(guidance, draftModel.card()),
                    classToken, nullToken, guidance, n, request.temperature());
            float[][] x = new float[n][];
            int decided = 0;
            boolean open = true;
            // token pre-filling: the target alone, one forward per token (its state holds inputs 0..decided-1)
            while (open && decided < prefill && !tokens.cancelled()) {
                DiagonalGaussian law = (decided == 0 ? p.feed() : p.feed(x[decided - 1]))[0];
                x[decided] = law.sample(eps[decided]);
                open = output.commit(x[decided], law);
                decided++;
            }
            rounds:
            while (open && decided < n && !tokens.cancelled()) {
                int k = Math.min(settings.numDraft(), n - decided);
                float[][] proposal = new float[k][];
                DiagonalGaussian[] qs = new DiagonalGaussian[k];
                // the draft catches up on the decided tokens it has not seen, then drafts k tokens
                // (inputs q.length()..decided: input 0 is the class token, which feed() adds itself, input i is x_{i-1})
                int from = Math.max(q.length(), 1) - 1;
                float[][] catchUp = new float[decided - from][];
                System.arraycopy(x, from, catchUp, 0, catchUp.length);
                DiagonalGaussian[] caught = q.feed(catchUp);
                qs[0] = caught[caught.length - 1];
                proposal[0] = qs[0].sample(eps[decided]);
                for (int m = 1; m < k; m++) {
                    if (tokens.cancelled()) {
                        break rounds;
                    }
                    qs[m] = q.feed(proposal[m - 1])[0];
                    proposal[m] = qs[m].sample(eps[decided + m]);
                }
                drafted += k;
                if (tokens.cancelled()) {
                    break;
                }
                // one target forward: the last decided token and the drafted ones (all k when a token remains
                // after them, for the bonus row; else the first k-1)
                boolean bonusRow = decided + k < n;
                int fed = bonusRow ? k : k - 1;
                float[][] verify = new float[(decided == 0 ? 0 : 1) + fed][];
                int v = 0;
                if (decided > 0) {
                    verify[v++] = x[decided - 1];
                }
                System.arraycopy(proposal, 0, verify, v, fed);
                DiagonalGaussian[] ps = p.feed(verify);
                int j = 0;
                boolean rejected = false;
                while (j < k && open) {
                    GaussianAcceptance.Verdict verdict = acceptance.verify(proposal[j], qs[j], ps[j], rng);
                    x[decided + j] = verdict.token();
                    open = output.commit(verdict.token(), ps[j]);
                    j++;
                    if (verdict.accepted()) {
                        accepted++;
                    } else {
                        resampled++;
                        tries += verdict.tries();
                        fallbacks += verdict.fallback() ? 1 : 0;
                        rejected = true;
                        break;
                    }
                }
                if (open && !rejected && bonusRow) {
                    x[decided + k] = ps[k].sample(eps[decided + k]);
                    open = output.commit(x[decided + k], ps[k]);
                    bonus++;
                    j++;
                }
                decided += j;
                // the KV states keep the decided prefix: inputs 0..decided-1 for the target, at most that for the draft
                p.truncate(Math.min(p.length(), decided));
                q.truncate(Math.min(q.length(), decided));
            }
        } finally {
            try {
                if (q != null) {
                    q.close();
                }
            } finally {
                p.close();
            }
        }
        Map<String, Object> stats = new LinkedHashMap<>();
        stats.put("forwards", p.forwards());
        stats.put("cspd.draft_forwards", q.forwards());
        stats.put("cspd.drafted", drafted);
        stats.put("cspd.accepted", accepted);
        stats.put("cspd.acceptance_rate", drafted == 0 ? 0.0 : (double) accepted / drafted);
        stats.put("cspd.resampled", resampled);
        stats.put("cspd.bonus", bonus);
        stats.put("cspd.resample_tries", tries);
        stats.put("cspd.resample_fallbacks", fallbacks);
        stats.put("cspd.prefill_tokens", Math.min(prefill, n));
        stats.put("cspd.num_draft", settings.numDraft());
        stats.put("cspd.mode", acceptance.mode().wireName());
        stats.put("cspd.inner_temperature", acceptance.innerTemperature());
        stats.put("cspd.draft", choice.description());
        ContinuousArGenerator.putGuidance(stats, guidance, p.mode());
        stats.put("temperature", request.temperature());
        stats.put("image.class", request.image().classIndex());
        stats.put("image.rows_streamed", output.canvases());
        stats.put("wall_nanos", System.nanoTime() - start);
        return ContinuousArGenerator.finish(tokens.result(p.forwards(), stats), n * request.dim());
    }
}
