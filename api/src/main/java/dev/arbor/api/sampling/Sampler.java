package dev.arbor.api.sampling;

import dev.arbor.api.Trait;
import java.util.EnumSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * A processor chain followed by a selector: the whole sampling side of one request. The chain's order is the
 * pipeline's configuration. A Sampler is itself a {@link LogitsProcessor} (applying the chain only).
 */
public final class Sampler implements LogitsProcessor {
    private final List<LogitsProcessor> processors;
    private final TokenSelector selector;
    private final Set<Trait> traits;

    public Sampler(List<LogitsProcessor> processors, TokenSelector selector) {
        this.processors = List.copyOf(processors);
        this.selector = Objects.requireNonNull(selector, "selector");
        EnumSet<Trait> all = EnumSet.noneOf(Trait.class);
        this.processors.forEach(p -> all.addAll(p.traits()));
        this.traits = Set.copyOf(all);
    }

    /** Applies every processor in order, in place. */
    @Override
    public void process(float[] logits, SamplingContext context) {
        for (LogitsProcessor p : processors) {
            p.process(logits, context);
        }
    }

    /** Processes {@code logits} in place and selects a token. */
    public Selection sample(float[] logits, SamplingContext context) {
        process(logits, context);
        return selector.select(logits, context);
    }

    public TokenSelector selector() {
        return selector;
    }

    public List<LogitsProcessor> processors() {
        return processors;
    }

    /** The union of the processors' traits. */
    @Override
    public Set<Trait> traits() {
        return traits;
    }
}
