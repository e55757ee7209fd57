package dev.arbor.platform.runtime.cli;

import dev.arbor.platform.runtime.internal.PartRegistry;

/** How {@code arbor bundles} shows one part a bundle provides. */
final class PartListing {
    private PartListing() {
    }

    /** Kind, name, ranking when not 0, and the part's {@code arbor.part.description} when it has one. */
    static String describe(PartRegistry.PartInfo p) {
        return p.kind().label() + " '" + p.name() + "'"
                + (p.ranking() != 0 ? " (ranking " + p.ranking() + ")" : "")
                + (p.description() != null ? ": " + p.description() : "");
    }
}
