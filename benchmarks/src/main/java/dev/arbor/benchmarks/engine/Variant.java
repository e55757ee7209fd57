package dev.arbor.benchmarks.engine;

import dev.arbor.api.ArborException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One Arbor configuration under test: a short name and the model options it sets (for example {@code precision},
 * {@code graph}, {@code intra_op_threads}). Written {@code name:key=value;key=value}, several separated by commas.
 *
 * @param name    label in the tables (lowercase letters, digits and '-', as it becomes part of a pipeline name)
 * @param options model options, in the order given
 */
public record Variant(String name, Map<String, String> options) {
    public Variant {
        if (!name.matches("[a-z0-9][a-z0-9-]*")) {
            throw ArborException.invalid("variant name '" + name + "' must be lowercase letters, digits and '-'");
        }
        options = Map.copyOf(options);
    }

    /** Parses {@code plain-t1:intra_op_threads=1,int4-t2:precision=int4;intra_op_threads=2}. */
    public static List<Variant> parseList(String text) {
        List<Variant> out = new ArrayList<>();
        for (String item : text.split(",")) {
            String spec = item.trim();
            if (spec.isEmpty()) {
                continue;
            }
            int colon = spec.indexOf(':');
            String name = colon < 0 ? spec : spec.substring(0, colon);
            Map<String, String> options = new LinkedHashMap<>();
            if (colon >= 0) {
                for (String kv : spec.substring(colon + 1).split(";")) {
                    if (kv.isBlank()) {
                        continue;
                    }
                    int eq = kv.indexOf('=');
                    if (eq <= 0) {
                        throw ArborException.invalid("variant '" + spec + "': option '" + kv
                                + "' is not key=value (write name:key=value;key=value)");
                    }
                    options.put(kv.substring(0, eq).trim(), kv.substring(eq + 1).trim());
                }
            }
            out.add(new Variant(name, options));
        }
        if (out.isEmpty()) {
            throw ArborException.invalid("no variant in '" + text + "'");
        }
        return out;
    }

    /** The weight precision the variant asks for: its {@code precision} option, fp32 when absent. */
    public String precision() {
        return options.getOrDefault("precision", "fp32");
    }

    /** Its ONNX Runtime intra-op thread count, 0 when ONNX Runtime chooses (one per core). */
    public int threads() {
        return Integer.parseInt(options.getOrDefault("intra_op_threads", "0"));
    }

    /**
     * The graph the variant runs, as the llama2.c converter decides it: its {@code graph} option when given, else
     * {@code reference} at fp32 and {@code fused} for int8 and int4 (only fused graphs quantize).
     */
    public String graph() {
        String g = options.get("graph");
        if (g != null) {
            return g;
        }
        return precision().equals("fp32") ? "reference" : "fused";
    }

    /** Whether the variant runs the plain-op fp32 reference graph, the one {@code MinimalOrtLoop} runs. */
    public boolean onReferenceGraph() {
        return graph().equals("reference");
    }
}
