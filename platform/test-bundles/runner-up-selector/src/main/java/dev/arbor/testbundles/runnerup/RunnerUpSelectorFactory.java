package dev.arbor.testbundles.runnerup;

import dev.arbor.api.Options;
import dev.arbor.api.PartProperties;
import dev.arbor.api.sampling.Selection;
import dev.arbor.api.sampling.TokenSelector;
import dev.arbor.api.sampling.TokenSelectorFactory;
import org.osgi.service.component.annotations.Component;

/**
 * Registers as the {@code sample} selector with a higher ranking than the real one and always picks the
 * second most likely token: output changes visibly the moment the framework switches to it, which is what the
 * hot-swap tests observe. Not for production use.
 */
@Component(service = TokenSelectorFactory.class,
        property = {PartProperties.NAME + "=sample", "service.ranking:Integer=100",
                PartProperties.DESCRIPTION + "=test selector: second most likely token"})
public class RunnerUpSelectorFactory implements TokenSelectorFactory {

    @Override
    public TokenSelector create(Options options) {
        return (logits, context) -> {
            int best = 0;
            for (int i = 1; i < logits.length; i++) {
                if (logits[i] > logits[best]) {
                    best = i;
                }
            }
            int second = best == 0 ? 1 : 0;
            for (int i = 0; i < logits.length; i++) {
                if (i != best && logits[i] > logits[second]) {
                    second = i;
                }
            }
            float[] oneHot = new float[logits.length];
            oneHot[second] = 1f;
            return new Selection(second, oneHot, 0.0, 1.0);
        };
    }
}
