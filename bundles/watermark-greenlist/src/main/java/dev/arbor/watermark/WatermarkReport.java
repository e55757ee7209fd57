package dev.arbor.watermark;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The {@code watermark} annotation every detector adds to its {@code PostProcessor.Output}: an ordered map with, in
 * this order, {@code scheme}, {@code key_id}, {@code tokens_scored}, {@code green_tokens}, {@code green_fraction},
 * {@code z_score}, {@code p_value}, {@code threshold} (in z units), {@code detected}, followed by scheme-specific
 * entries ({@link #with}). Values are strings, numbers, booleans, lists and maps only, so that the HTTP layer can
 * write it as JSON as is.
 */
public final class WatermarkReport {
    /** The annotation name. */
    public static final String ANNOTATION = "watermark";

    private final Map<String, Object> values = new LinkedHashMap<>();

    private WatermarkReport() {
    }

    /** The common fields; {@code greenFraction} is {@code green / scored} (0 when nothing was scored). */
    public static WatermarkReport of(String scheme, String keyId, long scored, long green, double zScore,
                                     double pValue, double threshold, boolean detected) {
        WatermarkReport r = new WatermarkReport();
        r.values.put("scheme", scheme);
        r.values.put("key_id", keyId);
        r.values.put("tokens_scored", scored);
        r.values.put("green_tokens", green);
        r.values.put("green_fraction", scored == 0 ? 0.0 : (double) green / scored);
        r.values.put("z_score", zScore);
        r.values.put("p_value", pValue);
        r.values.put("threshold", threshold);
        r.values.put("detected", detected);
        return r;
    }

    /** Adds a scheme-specific entry after the common ones. */
    public WatermarkReport with(String name, Object value) {
        values.put(name, value);
        return this;
    }

    /** An unmodifiable copy, in insertion order. */
    public Map<String, Object> toMap() {
        return java.util.Collections.unmodifiableMap(new LinkedHashMap<>(values));
    }
}
