package dev.arbor.platform.runtime.internal;

import java.util.function.UnaryOperator;

/** The model cache's bound in bytes: {@code arbor.models.cache.max_bytes}, 4 GiB by default. */
final class ModelCacheBound {
    static final String PROPERTY = "arbor.models.cache.max_bytes";

    private ModelCacheBound() {
    }

    static long bytes(UnaryOperator<String> property) {
        String v = property.apply(PROPERTY);
        if (v != null && !v.isBlank()) {
            try {
                long n = Long.parseLong(v.trim());
                if (n > 0) {
                    return n;
                }
            } catch (NumberFormatException e) {
                // fall through to the default, with a warning
            }
            System.getLogger("dev.arbor.runtime").log(System.Logger.Level.WARNING, PROPERTY + "='" + v
                    + "' is not a positive number of bytes; using the default");
        }
        return defaultBytes();
    }

    /** 4 GiB: room for several small models and their drafts, far below what a serving host has. */
    static long defaultBytes() {
        return 4L << 30;
    }
}
