package dev.arbor.api;

/**
 * Service properties by which pipelines find their parts. Every part service registers {@link #NAME};
 * pipelines refer to parts by that name. Among equal names (same kind), a bundle's highest installed version
 * shadows its older versions, then the highest {@code service.ranking} wins, then the oldest service.
 */
public final class PartProperties {
    /** The name a pipeline uses for this part, e.g. {@code top-p}, {@code autoregressive}, {@code onnxruntime}. */
    public static final String NAME = "arbor.part";
    /** Optional human description of the part, shown by {@code arbor bundles}. */
    public static final String DESCRIPTION = "arbor.part.description";

    private PartProperties() {
    }
}
