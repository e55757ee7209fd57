package dev.arbor.api.pipeline;

import dev.arbor.api.Options;
import java.util.Objects;

/**
 * A reference to a part by its {@code arbor.part} name, with the options the pipeline gives it.
 */
public record PartRef(String name, Options options) {
    public PartRef {
        Objects.requireNonNull(name, "part name");
        if (name.isBlank()) {
            throw new IllegalArgumentException("part name must not be blank");
        }
        options = options == null ? Options.empty() : options;
    }

    public static PartRef of(String name) {
        return new PartRef(name, Options.empty());
    }

    @Override
    public String toString() {
        return name;
    }
}
