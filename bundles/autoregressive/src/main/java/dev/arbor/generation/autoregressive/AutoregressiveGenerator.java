package dev.arbor.generation.autoregressive;

import dev.arbor.api.PartProperties;
import dev.arbor.api.generation.FinishReason;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.Generator;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ForwardResult;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.model.StateWrite;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.api.sampling.Selection;
import dev.arbor.autoregressive.DecodeChecks;
import dev.arbor.autoregressive.DecodeLimits;
import dev.arbor.autoregressive.KvCache;
import dev.arbor.autoregressive.TokenOutput;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import org.osgi.service.component.annotations.Component;

/**
 * Plain autoregressive decoding: one token per step from the pipeline's sampler chain, for one row.
 *
 * <p><b>Cached path</b> ({@code use_cache=true}, the default): the prompt is prefilled in one forward that appends
 * it to a fresh {@link DecodeState} ({@link StateWrite#APPEND}) and returns only the last row's logits; every later
 * step feeds the one token just committed. <b>Reference path</b> ({@code use_cache=false}): every step is a
 * stateless full forward of prompt + generated tokens ({@code state == null}). Both consume the same randomness in
 * the same order, so on a backend whose cached logits equal its recomputed ones they give identical tokens (DESIGN.md
 * §2 rule 3: the cached path is an optimisation tested against the reference).
 *
 * <p><b>Per step</b>, in this order: check {@link GenerationContext#cancellation()}; run one forward; copy the
 * logits and give them to {@link Sampler#sample} with the row's {@link SamplingContext} (seeded with the request's
 * seed, so the selector's draws are the only consumer of the request RNG); if the token is a stop token, finish
 * with {@link FinishReason#STOP} without emitting it; otherwise commit it to the history, stream it to the sink (a
 * false answer finishes with STOP, the token counting as emitted); after {@code budget} tokens finish with
 * {@link FinishReason#LENGTH}.
 *
 * <p><b>Budget</b>: the least of {@link GenerationContext#maxNewTokens()}, the option {@code max_new_tokens} when
 * given (it can only lower the platform's limit), and the room left in the context: prompt + generated never
 * exceeds {@link ModelCard#maxPositions()}. A prompt that leaves no room (length &gt;= context) or is empty is
 * refused before any forward with an {@code INVALID_INPUT} error naming both numbers.
 *
 * <p><b>Stats</b>: {@code use_cache}, {@code prefill_tokens} (tokens in the first forward), {@code forward_tokens}
 * (new tokens fed over all forwards; the reference path's cost grows quadratically), {@code budget},
 * {@code prefill_nanos} and {@code decode_nanos} (wall time of the first forward and of the rest).
 *
 * <p>The state is closed on every path, exceptions included.
 */
@Component(service = Generator.class, property = {PartProperties.NAME + "=autoregressive",
        PartProperties.DESCRIPTION + "=Autoregressive decoding with KV cache (use_cache=false: full recompute)"})
public final class AutoregressiveGenerator implements Generator {

    /** Every token is drawn from the chain's processed distribution with the row's own history, left to right. */
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
        boolean useCache = DecodeLimits.useCache(context.options());
        int budget = DecodeLimits.budget(context, prompt.length);
        Sampler sampler = DecodeChecks.sampler(context);
        TokenOutput output = new TokenOutput(context, sink, prompt, budget);
        SamplingContext history = output.history();

        int forwards = 0;
        long forwardTokens = 0;
        long prefillNanos = 0;
        long decodeStart = 0;
        KvCache cache = null;
        try {
            if (useCache && budget > 0) {
                cache = new KvCache(model);
            }
            int last = -1;
            while (output.hasRoom() && !output.cancelled()) {
                long start = System.nanoTime();
                ForwardResult result;
                int fed;
                if (cache == null) {
                    int[] all = history.tokens();
                    result = model.forward(ForwardRequest.builder(new int[][] {all}).lastRowOnly().build());
                    fed = all.length;
                } else if (forwards == 0) {
                    result = cache.appendLast(prompt);
                    fed = prompt.length;
                } else {
                    result = cache.appendLast(last);
                    fed = 1;
                }
                float[] logits = DecodeChecks.checkedCopy(result.last(0), card);
                if (forwards == 0) {
                    prefillNanos = System.nanoTime() - start;
                    decodeStart = System.nanoTime();
                }
                forwards++;
                forwardTokens += fed;

                Selection selection = sampler.sample(logits, history);
                int token = selection.token();
                DecodeChecks.checkToken(token, card);
                if (!output.commit(token, selection)) {
                    break;
                }
                last = token;
            }
        } finally {
            if (cache != null) {
                cache.close();
            }
        }
        Map<String, Object> stats = new LinkedHashMap<>();
        stats.put("use_cache", useCache);
        stats.put("prefill_tokens", forwards == 0 ? 0 : prompt.length);
        stats.put("forward_tokens", forwardTokens);
        stats.put("budget", budget);
        stats.put("prefill_nanos", prefillNanos);
        stats.put("decode_nanos", forwards == 0 ? 0L : System.nanoTime() - decodeStart);
        return output.result(forwards, stats);
    }
}
