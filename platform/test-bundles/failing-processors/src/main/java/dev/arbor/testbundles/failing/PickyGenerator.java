package dev.arbor.testbundles.failing;

import dev.arbor.api.ArborException;
import dev.arbor.api.PartProperties;
import dev.arbor.api.Trait;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.Generator;
import dev.arbor.api.generation.TokenSink;
import java.util.Set;
import org.osgi.service.component.annotations.Component;

/**
 * A generator that refuses history-dependent processors (such as 'repetition-penalty'), so tests can see the
 * platform refuse an incompatible per-request combination. It exists only to be refused: it never decodes.
 */
@Component(service = Generator.class,
        property = {PartProperties.NAME + "=picky", PartProperties.DESCRIPTION + "=test generator: refuses"
                + " history-dependent processors"})
public class PickyGenerator implements Generator {

    @Override
    public String incompatibility(Set<Trait> processorTraits) {
        return processorTraits.contains(Trait.HISTORY_DEPENDENT)
                ? "'picky' cannot honour history-dependent processors such as 'repetition-penalty'" : null;
    }

    @Override
    public GenerationResult generate(GenerationContext context, TokenSink sink) {
        throw new ArborException(ArborException.Kind.INVALID_INPUT,
                "the 'picky' test generator only exists to be refused; it does not decode");
    }
}
