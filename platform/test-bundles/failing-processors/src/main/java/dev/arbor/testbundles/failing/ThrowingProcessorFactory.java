package dev.arbor.testbundles.failing;

import dev.arbor.api.Options;
import dev.arbor.api.PartProperties;
import dev.arbor.api.sampling.LogitsProcessor;
import dev.arbor.api.sampling.LogitsProcessorFactory;
import org.osgi.service.component.annotations.Component;

/** A processor that throws on its first row: the platform must blame it by name and fail only that request. */
@Component(service = LogitsProcessorFactory.class,
        property = {PartProperties.NAME + "=throwing", PartProperties.DESCRIPTION + "=test processor: always throws"})
public class ThrowingProcessorFactory implements LogitsProcessorFactory {

    @Override
    public LogitsProcessor create(Options options) {
        return (logits, context) -> {
            throw new IllegalStateException("the 'throwing' test processor fails on purpose");
        };
    }
}
