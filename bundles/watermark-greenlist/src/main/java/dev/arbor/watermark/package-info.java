/**
 * What every watermark bundle shares, so that detectors agree on their statistics and their reports:
 * {@link dev.arbor.watermark.WatermarkStatistics} (one-proportion z-scores, one-sided normal p-values, Šidák and
 * Bonferroni corrections, thresholds; Apache Commons Math), {@link dev.arbor.watermark.RandomSubsetNull} (the exact
 * null distribution of a keyed green count, the p-value detectors report), {@link dev.arbor.watermark.WatermarkKeys} (required keys
 * with a message that says where to configure them, key ids that name a key without revealing it, the key-id
 * refusal rule) and {@link dev.arbor.watermark.WatermarkReport} (the {@code watermark} annotation's shape).
 */
@org.osgi.annotation.bundle.Export
@org.osgi.annotation.versioning.Version("1.1.0")
package dev.arbor.watermark;
