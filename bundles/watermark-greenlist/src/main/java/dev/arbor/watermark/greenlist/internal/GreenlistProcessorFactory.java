package dev.arbor.watermark.greenlist.internal;

import dev.arbor.api.Options;
import dev.arbor.api.PartProperties;
import dev.arbor.api.Trait;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.LogitsProcessorFactory;
import java.util.Set;
import org.osgi.service.component.annotations.Component;

/**
 * Part {@code watermark-greenlist}: the Kirchenbauer et al. 2023 watermark ("A Watermark for Large Language Models",
 * ICML 2023) with Hugging Face {@code WatermarkLogitsProcessor} semantics. Options: the scheme's
 * ({@link GreenlistScheme}: {@code greenlist_ratio}, {@code hashing_key} — required, {@code seeding_scheme},
 * {@code context_width}) and {@code bias} δ in [0, 100], default 2.0. δ = 0 gives a processor that changes nothing
 * (the options are still validated, the key still required). Put it before temperature and the filters, as HF's
 * {@code generate()} does (the watermark is the last processor before the warpers).
 */
@Component(service = LogitsProcessorFactory.class, property = {
    PartProperties.NAME + "=watermark-greenlist",
    PartProperties.DESCRIPTION + "=Kirchenbauer et al. green-list watermark (HF WatermarkLogitsProcessor): adds bias to the green list of the context"})
public final class GreenlistProcessorFactory implements LogitsProcessorFactory {
    static final String PART = "watermark-greenlist";
    static final String BIAS = "bias";
    static final double MAX_BIAS = 100;
    static final Set<Trait> TRAITS = Set.of(Trait.HISTORY_DEPENDENT, Trait.SPECULATIVE_SAFE, Trait.BATCH_SAFE,
            Trait.WATERMARK);

    @Override
    public LogitsProcessor create(Options options) {
        GreenlistScheme scheme = GreenlistScheme.from(options, PART);
        double bias = options.number(BIAS, 2.0, 0, MAX_BIAS);
        if (bias == 0) {
            return new LogitsProcessor() {
                @Override
                public void process(float[] logits, dev.arbor.api.sampling.SamplingContext context) {
                }

                @Override
                public Set<Trait> traits() {
                    return TRAITS;
                }
            };
        }
        return new GreenlistProcessor(scheme, bias);
    }

    @Override
    public Set<Trait> traits() {
        return TRAITS;
    }
}
