package dev.arbor.platform.http.internal;

import java.util.Set;

/**
 * Turns names that requests supply into metric label values: only names the operator configured (pipelines) or
 * installed (decoding strategies) become labels, anything else is counted under {@link #UNKNOWN}, so that no client
 * can grow the metrics by sending names.
 */
interface MetricLabels {
    /** The one label value for every name that is not configured. */
    String UNKNOWN = "unknown";

    /** {@code name} when it is a configured pipeline, else {@link #UNKNOWN}. */
    String pipeline(String name);

    /** {@code name} when it is a decoding strategy installed in the runtime, else {@link #UNKNOWN}. */
    String generator(String name);

    /** Fixed sets of names (tests, and servers whose parts do not change). */
    static MetricLabels of(Set<String> pipelines, Set<String> generators) {
        return new MetricLabels() {
            @Override
            public String pipeline(String name) {
                return pipelines.contains(name) ? name : UNKNOWN;
            }

            @Override
            public String generator(String name) {
                return generators.contains(name) ? name : UNKNOWN;
            }
        };
    }
}
