package dev.arbor.generation.cspd;

import dev.arbor.api.PartProperties;
import dev.arbor.api.Trait;
import dev.arbor.api.generation.FinishReason;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.Generator;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.model.EmbeddingAccess;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.autoregressive.TokenOutput;
import dev.arbor.guidance.CfgConvention;
import dev.arbor.guidance.CfgRamp;
import dev.arbor.guidance.Guidance;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import org.osgi.service.component.annotations.Component;

/**
 * Target-only sampling of a causal continuous-token image prior with a per-token Gaussian head (the baseline of
 * Continuous Speculative Decoding, Wang et al. 2025, "Continuous Speculative Decoding for Autoregressive Image
 * Generation"; METHODS.md §3.12): the MAR family's continuous tokens, here decoded in raster order by a causal prior
 * whose head gives {@code N(μ, diag v)} of the next latent token.
 *
 * <p><b>Sequence.</b> The prompt is one class token; the prior (alignment NEXT, attention CAUSAL, a GAUSSIAN
 * {@code ContinuousHead} over the codec's latent width, Capability INPUT_EMBEDS and EMBEDDING_MATRIX) takes the class
 * token, then each latent token {@code x} as the input embedding {@code Σ_j x_j·E[basis j]}; the pipeline's tokenizer
 * is a {@code LatentImageCodec} (format {@code image-latent}).
 *
 * <p><b>Per latent token i</b> (one forward each, appending to the KV state): cancellation check; the row of the last
 * input gives the Gaussian of {@code x_i}; the token is {@code x_i = μ + τ·σ·ε_i} with per-token noise {@code ε_i}
 * drawn once per request from its seed ({@link LatentOutput#noise}: the table CSpD shares between draft and target,
 * so {@code continuous-speculative} with prefill ratio 1 reproduces this generator token for token). Classifier-free
 * guidance on a Gaussian head: the documented form is guidance on the mean with the conditional variance,
 * {@code μ = μ_u + s·(μ_c − μ_u)} (LlamaGen's convention on the head's mean columns; the unconditional row starts from
 * the null class) — MAR's own guidance acts inside its diffusion head, which a Gaussian head does not have. Each
 * decided token is emitted as its 16 wire ids ({@code LatentImageCodec.toIds}) and the partial image streamed after
 * every row of the latent grid.
 *
 * <p><b>Options</b>: {@code guidance_scale} (default {@value #DEFAULT_GUIDANCE_SCALE}), {@code cfg_convention},
 * {@code cfg_ramp} (over the latent tokens), {@code temperature} τ (default 1, in (0, 10]).
 * Logits processors have nothing to act on and are refused at configuration.
 *
 * <p><b>Stats</b>: {@code forwards} (backend calls; a batch-2 call counts once), {@code cfg.scale},
 * {@code cfg.convention}, {@code cfg.ramp}, {@code cfg.mode}, {@code temperature}, {@code image.class},
 * {@code image.rows_streamed}, {@code wall_nanos}.
 */
@Component(service = Generator.class, property = {PartProperties.NAME + "=" + ContinuousArGenerator.NAME,
        PartProperties.DESCRIPTION + "=Continuous-latent raster AR image sampling from a Gaussian head (target only, "
                + "per-token seeded noise), classifier-free guidance on the mean (guidance_scale, temperature)"})
public final class ContinuousArGenerator implements Generator {
    /** The generator's name ({@code arbor.part}). */
    public static final String NAME = "continuous-ar";
    /** Default {@code guidance_scale} (LlamaGen's s; 1 = no guidance). */
    public static final double DEFAULT_GUIDANCE_SCALE = 2.0;

    @Override
    public String incompatibility(Set<Trait> processorTraits) {
        return refuseProcessors(processorTraits, NAME);
    }

    /** Continuous generators draw from Gaussian heads: a logits processor would silently do nothing. */
    static String refuseProcessors(Set<Trait> processorTraits, String generator) {
        return processorTraits.isEmpty() ? null : generator + " draws continuous latent tokens from a Gaussian head "
                + "and applies no logits processors; remove the processors from the pipeline (use the generator's "
                + "options guidance_scale and temperature instead)";
    }

    @Override
    public GenerationResult generate(GenerationContext context, TokenSink sink) {
        Objects.requireNonNull(context, "context");
        Objects.requireNonNull(sink, "sink");
        long start = System.nanoTime();
        ModelBackend model = context.model();
        LatentImageRequest request = LatentImageRequest.open(context, NAME);
        EmbeddingAccess embeddings = request.checkPrior(model, NAME, "the target", false);
        Guidance guidance = guidance(context);
        int n = request.tokens();
        TokenOutput tokens = new TokenOutput(context, sink, new int[] {request.image().classToken()},
                n * request.dim());
        double[][] eps = LatentOutput.noise(tokens.random(), n, request.dim());
        LatentOutput output = new LatentOutput(tokens, sink, request.codec(), model.card().vocabSize());
        LatentRows rows = new LatentRows(model, embeddings, LatentRows.Mode.of(guidance, model.card()),
                request.image().classToken(), request.image().nullClassToken(), guidance, n, request.temperature());
        try {
            float[] last = null;
            for (int i = 0; i < n && !tokens.cancelled(); i++) {
                DiagonalGaussian law = (last == null ? rows.feed() : rows.feed(last))[0];
                last = law.sample(eps[i]);
                if (!output.commit(last, law)) {
                    break;
                }
            }
        } finally {
            rows.close();
        }
        Map<String, Object> stats = new LinkedHashMap<>();
        stats.put("forwards", rows.forwards());
        putGuidance(stats, guidance, rows.mode());
        stats.put("temperature", request.temperature());
        stats.put("image.class", request.image().classIndex());
        stats.put("image.rows_streamed", output.canvases());
        stats.put("wall_nanos", System.nanoTime() - start);
        return finish(tokens.result(rows.forwards(), stats), n * request.dim());
    }

    static Guidance guidance(GenerationContext context) {
        return Guidance.read(context.options(), CfgConvention.LLAMAGEN, DEFAULT_GUIDANCE_SCALE, CfgRamp.CONSTANT);
    }

    static void putGuidance(Map<String, Object> stats, Guidance guidance, LatentRows.Mode mode) {
        stats.put("cfg.convention", guidance.convention().name().toLowerCase(Locale.ROOT));
        stats.put("cfg.scale", guidance.scale());
        stats.put("cfg.ramp", guidance.ramp().name().toLowerCase(Locale.ROOT));
        stats.put("cfg.mode", mode.wireName());
    }

    /** A whole image is the natural end of the sequence, not a cut-off: LENGTH becomes STOP. */
    static GenerationResult finish(GenerationResult result, int ids) {
        if (result.finishReason() == FinishReason.LENGTH && result.tokens().length == ids) {
            return new GenerationResult(result.tokens(), result.logProbs(), FinishReason.STOP,
                    result.forwardPasses(), result.stats());
        }
        return result;
    }
}
