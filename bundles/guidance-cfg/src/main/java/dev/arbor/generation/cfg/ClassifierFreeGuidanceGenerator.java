package dev.arbor.generation.cfg;

import dev.arbor.api.PartProperties;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.Generator;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.api.sampling.Selection;
import dev.arbor.autoregressive.DecodeChecks;
import dev.arbor.autoregressive.DecodeLimits;
import dev.arbor.autoregressive.TokenOutput;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import org.osgi.service.component.annotations.Component;

/**
 * Classifier-free guidance (CFG) for any causal-LM pipeline (Ho &amp; Salimans, "Classifier-Free Diffusion
 * Guidance", 2022; for autoregressive token models as in LlamaGen, Sun et al. 2024,
 * {@code github.com/FoundationVision/LlamaGen : autoregressive/models/generate.py}; METHODS.md §3.2).
 *
 * <p><b>Per step</b>: the next-token logits of the <i>conditional</i> row (the request's prompt followed by the
 * tokens generated so far) and of the <i>unconditional</i> row (the unconditional context followed by the same
 * generated tokens) are combined in logit space with LlamaGen's convention {@code uncond + s·(cond − uncond)}
 * ({@link CfgCombiner}), so one guided step samples from {@code p(x|c)^s · p(x)^(1−s)}, renormalised; then the
 * request's processor chain and selector run on the combined row with the conditional row's history (so
 * history-dependent processors such as repetition penalties see the real output), and the chosen token is
 * appended to both rows. The loop's order of events — cancellation check, forward(s), sample, stop token (not
 * emitted), commit, sink — and its budget are the autoregressive generator's, so with guidance off the output is
 * the unguided output token for token.
 *
 * <p><b>Options</b> (validated before any forward, each refusal naming the option):
 * <ul>
 *   <li>{@code guidance_scale} (s, default 1.5, 0..100, in the convention's parameter): 1 = no guidance (exactly
 *       unguided, and no unconditional forward is run, as in LlamaGen); 0 = the unconditional model; &gt; 1 =
 *       stronger conditioning (LlamaGen's convention; see {@code cfg_convention} for the others).</li>
 *   <li>{@code cfg_convention} ({@code llamagen} default, {@code var}, {@code llada}; {@link
 *       dev.arbor.guidance.CfgConvention}): how {@code guidance_scale} is written — VAR's {@code t} of
 *       {@code (1+t)·cond − t·uncond} (inert at 0) or LLaDA's {@code cfg} of {@code uncond + (cfg+1)·(cond − uncond)}
 *       (inert at 0); the combination itself is the same geometric mixture.</li>
 *   <li>{@code cfg_ramp} ({@code constant} default, {@code linear}, {@code cosine}; {@link
 *       dev.arbor.guidance.CfgRamp}): the parameter of generated token {@code k} is
 *       {@code inert + (scale − inert)·r(k)} over the request's token budget {@code N} ({@code r = k/(N−1)} for
 *       linear, VAR's ramp); a token whose parameter is inert is not combined, but its unconditional row is still
 *       computed for the later tokens.</li>
 *   <li>{@code cfg_interval} (default -1 = every token): LlamaGen's schedule; the first token and decode steps
 *       {@code i <= cfg_interval} are guided, i.e. generated tokens {@code 0..cfg_interval+1}; after that the
 *       unconditional row is dropped (LlamaGen keeps computing it and ignores it; we save the compute).</li>
 *   <li>{@code negative_prompt} (text, encoded with the pipeline's tokenizer with special tokens, so
 *       {@code ""} is {@code [BOS]}) or {@code negative_prompt_ids} (ids as they are): the unconditional context.
 *       By default it is the empty prompt as the model sees it: {@code [BOS]} (the card's BOS, else the
 *       tokenizer's, else the tokenizer's encoding of {@code ""}); a model without any is refused with a message
 *       asking for a negative prompt.</li>
 *   <li>{@code mode}: {@code auto} (default), {@code fork} or {@code batch} — see {@link CfgSettings.Mode}; auto
 *       takes batch where the backend supports it (measured cheaper, BENCHMARKS.md), else fork.</li>
 *   <li>{@code max_new_tokens}: caps the platform's limit, as for {@code autoregressive}.</li>
 * </ul>
 *
 * <p><b>Budget</b>: as the autoregressive loop's, and the unconditional row must fit as well: in fork mode the
 * unconditional context plus the guided tokens, in batch mode the longer context (padding slots count) plus every
 * generated token, stay within {@link ModelCard#maxPositions()}.
 *
 * <p><b>Stats</b>: {@code cfg.scale}, {@code cfg.convention}, {@code cfg.ramp}, {@code cfg.mode} ({@code fork},
 * {@code batch} or {@code none}), {@code cfg.interval}, {@code cfg.guided_tokens}, {@code cfg.unconditional} (where the unconditional context came
 * from), {@code cfg.unconditional_tokens}, {@code cfg.shared_prefix_tokens} (fork mode: tokens prefilled once for
 * both rows), {@code cfg.cond_forwards} and {@code cfg.uncond_forwards} (forward calls that computed each row; a
 * batch-2 call counts for both), {@code forward_tokens} (new tokens fed, summed over rows), {@code budget},
 * {@code prefill_nanos}, {@code decode_nanos}. {@link GenerationResult#forwardPasses()} counts backend calls.
 *
 * <p>Every state is closed on every path, exceptions included.
 */
@Component(service = Generator.class, property = {PartProperties.NAME + "=cfg",
        PartProperties.DESCRIPTION + "=Classifier-free guidance: uncond + s*(cond - uncond) per token "
                + "(guidance_scale, cfg_convention llamagen|var|llada, cfg_ramp, negative_prompt, cfg_interval, mode fork|batch)"})
public final class ClassifierFreeGuidanceGenerator implements Generator {

    /**
     * One token per step, drawn from the chain run on the combined row with the conditional row's history: a
     * constraint masks the guided distribution itself. (Its budget is the platform's; in batch mode a long negative
     * prompt can lower this loop's, see {@link #budget}.)
     */
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
        int[] prompt = context.prompt().clone();
        DecodeChecks.validatePrompt(prompt, card);
        CfgSettings settings = CfgSettings.read(context, prompt);
        int budget = budget(context, prompt.length, settings);
        Sampler sampler = DecodeChecks.sampler(context);
        TokenOutput output = new TokenOutput(context, sink, prompt, budget);
        SamplingContext history = output.history();

        int guidedTokens = 0;
        long prefillNanos = 0;
        long decodeStart = 0;
        TwinRows rows = TwinRows.open(model, prompt, settings);
        try {
            int last = -1;
            while (output.hasRoom() && !output.cancelled()) {
                boolean guided = settings.guidesToken(output.generated());
                long start = System.nanoTime();
                float[][] both = rows.next(last, guided);
                if (output.generated() == 0) {
                    prefillNanos = System.nanoTime() - start;
                    decodeStart = System.nanoTime();
                }
                float[] logits;
                if (settings.combinesToken(output.generated(), budget)) {
                    logits = settings.guidance().combine(both[0], both[1], output.generated(), budget, card.name());
                    guidedTokens++;
                } else {
                    logits = both[0];
                }
                Selection selection = sampler.sample(logits, history);
                int token = selection.token();
                DecodeChecks.checkToken(token, card);
                if (!output.commit(token, selection)) {
                    break;
                }
                last = token;
            }
        } finally {
            rows.close();
        }
        Map<String, Object> stats = new LinkedHashMap<>();
        stats.put("cfg.scale", settings.scale());
        stats.put("cfg.convention", settings.guidance().convention().name().toLowerCase(java.util.Locale.ROOT));
        stats.put("cfg.ramp", settings.guidance().ramp().name().toLowerCase(java.util.Locale.ROOT));
        stats.put("cfg.mode", settings.guides() ? settings.mode().wireName() : "none");
        stats.put("cfg.interval", settings.interval());
        stats.put("cfg.guided_tokens", guidedTokens);
        stats.put("cfg.unconditional", settings.uncondSource());
        stats.put("cfg.unconditional_tokens", settings.guides() ? settings.uncond().length : 0);
        stats.put("cfg.shared_prefix_tokens", rows.sharedPrefix());
        stats.put("cfg.cond_forwards", rows.condForwards());
        stats.put("cfg.uncond_forwards", rows.uncondForwards());
        stats.put("forward_tokens", rows.forwardTokens());
        stats.put("budget", budget);
        stats.put("prefill_nanos", prefillNanos);
        stats.put("decode_nanos", rows.forwards() == 0 ? 0L : System.nanoTime() - decodeStart);
        return output.result(rows.forwards(), stats);
    }

    /**
     * The request's limit, option {@code max_new_tokens}, and the context: the conditional row (and, while
     * guidance lasts, the unconditional row; in batch mode both share the longer length) never outgrows it.
     */
    private static int budget(GenerationContext context, int promptLength, CfgSettings settings) {
        int max = context.model().card().maxPositions();
        int budget = DecodeLimits.budget(context, promptLength);
        if (settings.guides()) {
            int uncondLength = settings.uncond().length;
            if (settings.mode() == CfgSettings.Mode.BATCH) {
                // Both rows share one state of max(|prompt|, |uncond|) slots (padding counts), for the whole run.
                budget = Math.min(budget, max - Math.max(promptLength, uncondLength));
            } else {
                // Guided token k is computed from the unconditional context plus k tokens: |uncond| + k < max.
                long guidedTokens = settings.interval() < 0 ? Long.MAX_VALUE : settings.interval() + 2L;
                if (guidedTokens > max - uncondLength) {
                    budget = Math.min(budget, max - uncondLength);
                }
            }
        }
        return budget;
    }
}
