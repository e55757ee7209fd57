package dev.arbor.platform.runtime.internal;

import dev.arbor.api.ArborException;
import dev.arbor.api.pipeline.PartRef;
import dev.arbor.api.pipeline.PipelineDefinition;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Predicate;

/**
 * The logits-processor chain a request runs with. A request that names its own chain may use the pipeline's
 * processors and those its allow-list ({@code overrides.processors}) names, but the pipeline's <em>fixed</em> parts
 * (marked {@code "fixed": true} by the operator, or declaring {@code Trait.WATERMARK} themselves) must stay: each
 * exactly once, in the pipeline's order, by name only; they then run with the operator's options. Anything else is
 * refused with a message naming the fixed part, never silently served differently from what was asked.
 */
final class RequestChain {
    private RequestChain() {
    }

    /**
     * The chain for {@code requested} (null = the pipeline's own) on pipeline {@code d}; {@code declaresFixed} says
     * whether the processor part of that name declares itself fixed (it must fail, not answer false, when the
     * part is missing: an unknown part could be a watermark).
     */
    static List<PartRef> of(PipelineDefinition d, List<PartRef> requested, Predicate<String> declaresFixed) {
        if (requested == null) {
            return d.processors();
        }
        List<String> own = d.processors().stream().map(PartRef::name).toList();
        for (PartRef p : requested) {
            if (!own.contains(p.name()) && !d.overrides().processors().contains(p.name())) {
                Set<String> all = new LinkedHashSet<>(own);
                all.addAll(d.overrides().processors());
                throw ArborException.invalid("pipeline '" + d.name() + "' does not let a request use logits"
                        + " processor '" + p.name() + "'; allowed: " + String.join(", ", all));
            }
        }
        List<PartRef> fixed = new ArrayList<>();
        Set<String> fixedNames = new LinkedHashSet<>();
        for (PartRef p : d.processors()) {
            if (d.overrides().fixed().contains(p.name()) || declaresFixed.test(p.name())) {
                fixed.add(p);
                fixedNames.add(p.name());
            }
        }
        if (fixed.isEmpty()) {
            return requested;
        }
        List<String> fixedOrder = fixed.stream().map(PartRef::name).toList();
        List<String> keptOrder = requested.stream().map(PartRef::name).filter(fixedNames::contains).toList();
        if (!keptOrder.equals(fixedOrder)) {
            String missing = fixedOrder.stream().filter(n -> !keptOrder.contains(n)).findFirst()
                    .orElse(fixedOrder.get(0));
            throw ArborException.invalid("pipeline '" + d.name() + "' keeps logits processor '" + missing + "' fixed"
                    + " (the operator's): a request's processors must contain " + describe(fixedOrder)
                    + ", by name only; the other processors may change (the pipeline's chain is " + own + ")");
        }
        List<PartRef> out = new ArrayList<>(requested.size());
        int next = 0;
        for (PartRef p : requested) {
            if (!fixedNames.contains(p.name())) {
                out.add(p);
                continue;
            }
            if (!p.options().asMap().isEmpty()) {
                throw ArborException.invalid("pipeline '" + d.name() + "' keeps logits processor '" + p.name()
                        + "' fixed with the operator's options; a request names it without options");
            }
            out.add(fixed.get(next++));
        }
        return out;
    }

    /** True when a processor runs with the operator's options only (no request option reaches it). */
    static boolean isFixed(PipelineDefinition d, PartRef processor, boolean declaresFixed) {
        return declaresFixed || d.overrides().fixed().contains(processor.name());
    }

    private static String describe(List<String> names) {
        return names.size() == 1 ? "'" + names.get(0) + "' once"
                : names + ", each once and in that order";
    }
}
