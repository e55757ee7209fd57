package dev.arbor.platform.runtime.internal;

/** A pipeline configuration as delivered by Config Admin: its name, its JSON and where it came from. */
public interface ConfiguredPipeline {
    String name();

    String json();

    String source();
}
