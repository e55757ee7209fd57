package dev.arbor.generation.nextscale;

import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.model.AttentionSpec;

/**
 * VAR's block-causal-by-scale mask as an {@link AttentionSpec.Segments} ({@code github.com/FoundationVision/VAR
 * @78b9539 : models/var.py} l.107-112: query level {@code >=} key level). Position {@code p} of an image (state
 * slot {@code p}: the class token is slot 0, in scale 0) has segment {@code layout.scaleOf(p)}, so a query of scale
 * {@code k} sees every token of scales {@code 0..k} and none after.
 */
final class ScaleSegments {
    private ScaleSegments() {
    }

    /**
     * The spec of the forward of scale {@code k} on a state holding scales {@code 0..k-1}
     * ({@code layout.scaleStart(k)} slots, each keeping its own scale as segment), for {@code batch} identical rows.
     */
    static AttentionSpec.Segments forScale(ImageLayout layout, int k, int batch) {
        int held = layout.scaleStart(k);
        int side = layout.side(k);
        int queries = side * side;
        int[] query = new int[queries];
        java.util.Arrays.fill(query, k);
        int[] keys = new int[held + queries];
        for (int p = 0; p < keys.length; p++) {
            keys[p] = layout.scaleOf(p);
        }
        int[][] querySegment = new int[batch][];
        int[][] keySegment = new int[batch][];
        for (int b = 0; b < batch; b++) {
            querySegment[b] = query.clone();
            keySegment[b] = keys.clone();
        }
        return new AttentionSpec.Segments(querySegment, keySegment);
    }
}
