package dev.arbor.watermark.lbw.internal;

import dev.arbor.models.images.VqImageTokenizer;
import static dev.arbor.watermark.lbw.internal.LbwImageRobustnessTest.KEY;
import static dev.arbor.watermark.lbw.internal.LbwImageRobustnessTest.count;
import static dev.arbor.watermark.lbw.internal.LbwImageRobustnessTest.embedOptions;
import static dev.arbor.watermark.lbw.internal.LbwImageRobustnessTest.fromRoot;
import static dev.arbor.watermark.lbw.internal.LbwImageRobustnessTest.pool;
import static dev.arbor.watermark.lbw.internal.LbwImageRobustnessTest.searchRows;
import static dev.arbor.watermark.lbw.internal.LbwImageRobustnessTest.write;

import dev.arbor.api.Options;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * LBW robustness on real images, run on request only (its name is outside surefire's test patterns, so the build
 * never runs it; it fails naming the missing property rather than skipping). With {@code -Darbor.lbw.prior=PATH}
 * (a llama2c raster prior such as {@code models/trained/fashion-ar/fashion-ar.bin}, relative to the repository root
 * or absolute): images sampled from that prior, watermarked and not. With {@code -Darbor.lbw.images=DIR}: the PNGs
 * of DIR, watermarked by a pipeline with key {@code -Darbor.lbw.key}. The knobs are {@link LbwImageRobustnessTest}'s.
 * Example: {@code mvn -o -pl bundles/watermark-lbw test -Dtest='LbwImageRobustnessHarness#pngDirectoryRobustness'
 * -Darbor.lbw.images=/tmp/wm -Darbor.lbw.key=424242 -Darbor.lbw.green_ratio=0.5}.
 */
class LbwImageRobustnessHarness {

    @Test
    void priorRobustness() throws IOException {
        String prior = System.getProperty("arbor.lbw.prior");
        require(prior, "-Darbor.lbw.prior=PATH (a llama2c raster prior)");
        VqImageTokenizer tokenizer = CommittedTokenizers.committed();
        Path checkpoint = fromRoot(prior);
        Map<String, Object> embed = embedOptions(tokenizer.layout().codes());
        double temperature = Double.parseDouble(System.getProperty("arbor.lbw.temperature", "1"));
        int topK = Integer.getInteger("arbor.lbw.top_k", 0);
        long start = System.nanoTime();
        List<int[]> marked = LbwImageRobustness.samplePrior(checkpoint, tokenizer, Options.of(embed), count(), 1_000,
                temperature, topK);
        List<int[]> plain = LbwImageRobustness.samplePrior(checkpoint, tokenizer, null, count(), 500_000,
                temperature, topK);
        System.out.printf("sampled 2 x %d images from %s in %.1f s%n", count(), checkpoint,
                (System.nanoTime() - start) / 1e9);
        Options detector = LbwImageRobustness.detectorOptions(KEY, pool());
        List<LbwImageRobustness.Row> rows = new ArrayList<>(LbwImageRobustness.measure(tokenizer, marked, plain,
                detector, LbwImageRobustness.standard(), 11));
        rows.addAll(searchRows(tokenizer, marked, plain, detector));
        write("prior", LbwImageRobustness.table(checkpoint.getFileName() + ", " + embed.get("mode") + " bias "
                + embed.get("bias") + ", temperature " + temperature + ", top-k " + topK + ", no CFG, alpha 0.01",
                rows));
    }

    @Test
    void pngDirectoryRobustness() throws IOException {
        String dir = System.getProperty("arbor.lbw.images");
        require(dir, "-Darbor.lbw.images=DIR -Darbor.lbw.key=KEY (PNGs a watermarked pipeline wrote)");
        VqImageTokenizer tokenizer = CommittedTokenizers.committed();
        String key = System.getProperty("arbor.lbw.key");
        List<int[]> marked = LbwImageRobustness.readPngs(fromRoot(dir), tokenizer);
        Options detector = LbwImageRobustness.detectorOptions(key, pool());
        List<LbwImageRobustness.Row> rows = new ArrayList<>(LbwImageRobustness.measure(tokenizer, marked, List.of(),
                detector, LbwImageRobustness.standard(), 11));
        rows.addAll(searchRows(tokenizer, marked, List.of(), detector));
        write("pngs", LbwImageRobustness.table(dir + ", alpha 0.01", rows));
    }

    private static void require(String value, String what) {
        if (value == null) {
            throw new IllegalStateException("this harness measures on request: give " + what);
        }
    }
}
