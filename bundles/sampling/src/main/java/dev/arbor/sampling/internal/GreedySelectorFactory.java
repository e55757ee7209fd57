package dev.arbor.sampling.internal;

import dev.arbor.api.Options;
import dev.arbor.api.PartProperties;
import dev.arbor.api.sampling.TokenSelector;
import dev.arbor.api.sampling.TokenSelectorFactory;
import org.osgi.service.component.annotations.Component;

/** Part {@code greedy}: argmax, lowest id on ties; reads no options. */
@Component(service = TokenSelectorFactory.class, property = {
    PartProperties.NAME + "=greedy",
    PartProperties.DESCRIPTION + "=Argmax of the processed logits (lowest id on ties), one-hot distribution"})
public final class GreedySelectorFactory implements TokenSelectorFactory {

    @Override
    public TokenSelector create(Options options) {
        return GreedySelector.INSTANCE;
    }
}
