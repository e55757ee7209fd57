package dev.arbor.platform.runtime.internal;

import dev.arbor.api.ArborException;
import dev.arbor.api.pipeline.PartRef;
import dev.arbor.api.pipeline.PipelineDefinition;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Predicate;
import java.util.function.Supplier;

/**
 * The logits-processor chain a request runs with. A request that names its own chain may use the pipeline's
 * processors and those its allow-list ({@code overrides.processors}) names, but the pipeline's <em>fixed</em> parts
 * (marked {@code "fixed": true} by the operator, or declaring {@code Trait.WATERMARK} themselves) must stay: each
 * exactly once, in the pipeline's order, by name only; they then run with the operator's options. Anything else is
 * refused with a message naming the fixed part, never silently served differently from what was asked. A
 * pipeline processor that a request names without options runs with the pipeline's own entry (its options), so
 * naming the pipeline's chain reproduces it.
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
        return of(d, requested, declaresFixed, () -> null);
    }

    /**
     * As {@link #of(PipelineDefinition, List, Predicate)}; {@code installed} gives the names of the processor
     * parts installed now (null: unknown), asked only for a refusal, so that a misspelt name is answered "no such
     * part" with the installed names rather than "not allowed".
     */
    static List<PartRef> of(PipelineDefinition d, List<PartRef> requested, Predicate<String> declaresFixed,
                            Supplier<Collection<String>> installed) {
        if (requested == null) {
            return d.processors();
        }
        List<String> own = d.processors().stream().map(PartRef::name).toList();
        for (PartRef p : requested) {
            if (!own.contains(p.name()) && !d.overrides().processors().contains(p.name())) {
                Set<String> all = new LinkedHashSet<>(own);
                all.addAll(d.overrides().processors());
                throw notAllowed(d.name(), PartKind.PROCESSOR, p.name(), all, installed.get());
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
            return withOwnOptions(d, requested);
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
        List<PartRef> mapped = withOwnOptions(d, requested);
        for (int i = 0; i < requested.size(); i++) {
            PartRef p = requested.get(i);
            if (!fixedNames.contains(p.name())) {
                out.add(mapped.get(i));
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

    /**
     * {@code requested} with each processor that is named without options and has options of its own in the
     * pipeline's chain replaced by the pipeline's entry, so that a request can keep the pipeline's chain around an
     * added part (a constraint prepended for {@code response_format}) by naming it, and gets it as the pipeline runs
     * it. Request options still reach the options the operator's entry leaves open.
     */
    private static List<PartRef> withOwnOptions(PipelineDefinition d, List<PartRef> requested) {
        List<PartRef> out = new ArrayList<>(requested.size());
        for (PartRef p : requested) {
            PartRef own = p.options().asMap().isEmpty() ? d.processors().stream()
                    .filter(q -> q.name().equals(p.name())).findFirst().orElse(p) : p;
            out.add(own);
        }
        return out;
    }

    /**
     * The refusal of a request's part {@code name} that pipeline {@code pipeline} does not allow: "no such part"
     * (with the installed names) when no bundle provides it, else "not allowed" (with the pipeline's allowed
     * names, each once). {@code installed} null: not known, the "not allowed" form.
     */
    static ArborException notAllowed(String pipeline, PartKind kind, String name, Collection<String> allowed,
                                     Collection<String> installed) {
        String allowedList = String.join(", ", new LinkedHashSet<>(allowed));
        if (installed != null && !installed.contains(name)) {
            return ArborException.invalid("no such " + kind.describe(name) + ": no installed bundle provides it"
                    + " (check the spelling); installed: " + (installed.isEmpty() ? "none"
                    : String.join(", ", new TreeSet<>(installed))) + "; pipeline '" + pipeline
                    + "' lets a request use: " + allowedList);
        }
        String verb = kind == PartKind.GENERATOR ? " choose " : " use ";
        return ArborException.invalid("pipeline '" + pipeline + "' does not let a request" + verb + kind.describe(name)
                + " (it is installed, but the pipeline's overrides do not list it); allowed: " + allowedList);
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
