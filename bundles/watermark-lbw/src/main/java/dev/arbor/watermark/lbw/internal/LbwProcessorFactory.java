package dev.arbor.watermark.lbw.internal;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.PartProperties;
import dev.arbor.api.Trait;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.LogitsProcessorFactory;
import dev.arbor.api.sampling.SamplingContext;
import java.util.Set;
import org.osgi.service.component.annotations.Component;

/**
 * Part {@code watermark-lbw}: Lexical Bias Watermarking ("Lexical Bias Watermarking for Autoregressive Image
 * Generation", arXiv 2506.01011; METHODS.md §3.3), on text tokens now and on image tokens through
 * {@code vocab_range}. Options: the pool's ({@link LbwScheme}: {@code key} — required, {@code green_ratio},
 * {@code pool_size}, {@code vocab_range}), {@code bias} δ in [0, 100] (default 2.0, soft mode), {@code mode}
 * {@code soft} (default) or {@code hard}; {@code alpha} belongs to the detector and is ignored here.
 *
 * <p>Soft mode with δ = 0 or γ = 0 returns a processor that changes nothing and draws nothing from the RNG, so the
 * output equals the unwatermarked one with the same seed. Otherwise see {@link LbwProcessor}: one draw from the
 * request RNG per output (trait USES_RANDOMNESS); no history is read (the lists are context-free).
 */
@Component(service = LogitsProcessorFactory.class, property = {
    PartProperties.NAME + "=watermark-lbw",
    PartProperties.DESCRIPTION + "=Lexical Bias Watermarking: biases toward one keyed green list per output (soft +bias or hard)"})
public final class LbwProcessorFactory implements LogitsProcessorFactory {
    static final String PART = "watermark-lbw";
    static final String BIAS = "bias";
    static final String MODE = "mode";
    static final Set<Trait> TRAITS = Set.of(Trait.USES_RANDOMNESS, Trait.SPECULATIVE_SAFE, Trait.WATERMARK);

    @Override
    public LogitsProcessor create(Options options) {
        LbwScheme scheme = LbwScheme.from(options, PART);
        double bias = options.number(BIAS, 2.0, 0, 100);
        String mode = options.string(MODE, "soft").trim();
        if (!mode.equals("soft") && !mode.equals("hard")) {
            throw ArborException.invalid("option '" + MODE + "' must be 'soft' or 'hard', got '" + mode + "'");
        }
        int[] range = scheme.explicitRange();
        if (range == null && !scheme.range.equals("all")) {
            throw ArborException.invalid("option '" + LbwScheme.VOCAB_RANGE + "' of part '" + PART + "' must be "
                    + "'all' or START:END: the processor sees only logits, not the tokenizer, so give the ids of "
                    + "the tokenizer's partition (e.g. its image range) explicitly; got '" + scheme.range + "'");
        }
        boolean hard = mode.equals("hard");
        if (hard && scheme.gamma == 0) {
            throw ArborException.invalid("option '" + LbwScheme.GREEN_RATIO + "' must be greater than 0 in mode "
                    + "hard (an empty green list would remove every token)");
        }
        if (!hard && (bias == 0 || scheme.gamma == 0)) {
            return new LogitsProcessor() {
                @Override
                public void process(float[] logits, SamplingContext context) {
                }

                @Override
                public Set<Trait> traits() {
                    return TRAITS;
                }
            };
        }
        return new LbwProcessor(scheme, bias, hard);
    }

    @Override
    public Set<Trait> traits() {
        return TRAITS;
    }
}
