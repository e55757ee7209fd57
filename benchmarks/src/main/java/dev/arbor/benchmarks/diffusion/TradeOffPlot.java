package dev.arbor.benchmarks.diffusion;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.text.DecimalFormat;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.LogAxis;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.axis.NumberTickUnit;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

/**
 * The benchmark's figure (JFreeChart, rendered headless to a PNG): one panel per diffusion LM, tokens per forward
 * pass against the judge's perplexity (both on log scales): fixed-step LLaDA decoding at 1, 2, 4, 8 tokens per step as a
 * line, and every strategy as a point.
 */
public final class TradeOffPlot {
    /** One panel: a title, the fixed-step curve and the strategies. */
    public record Panel(String title, List<Tally> fixedSteps, List<Tally> strategies) {
    }

    private TradeOffPlot() {
    }

    /** Writes the panels side by side to {@code png}. */
    public static void write(List<Panel> panels, Path png) throws IOException {
        System.setProperty("java.awt.headless", "true");
        int w = 720;
        int h = 520;
        BufferedImage image = new BufferedImage(w * panels.size(), h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = image.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        for (int i = 0; i < panels.size(); i++) {
            chart(panels.get(i)).draw(g, new java.awt.geom.Rectangle2D.Double(i * w, 0, w, h));
        }
        g.dispose();
        Files.createDirectories(png.toAbsolutePath().getParent());
        ImageIO.write(image, "png", png.toFile());
    }

    private static JFreeChart chart(Panel panel) {
        XYSeriesCollection data = new XYSeriesCollection();
        XYSeries curve = new XYSeries("LLaDA fixed steps (1, 2, 4, 8 tokens/step)", false, true);
        for (Tally t : panel.fixedSteps()) {
            curve.add(t.tokensPerForward(), t.perplexity());
        }
        data.addSeries(curve);
        for (Tally t : panel.strategies()) {
            if (t.refused() != null) {
                continue;
            }
            XYSeries s = new XYSeries(t.label(), false, true);
            s.add(t.tokensPerForward(), t.perplexity());
            data.addSeries(s);
        }
        LogAxis x = new LogAxis("tokens per forward pass (log scale)");
        x.setBase(2);
        x.setSmallestValue(0.25);
        x.setTickUnit(new NumberTickUnit(1.0)); // one tick per power of two
        x.setNumberFormatOverride(new DecimalFormat("0.##"));
        LogAxis y = new LogAxis("perplexity under the AR judge (log scale, lower is better)");
        y.setBase(10);
        y.setSmallestValue(1);
        y.setNumberFormatOverride(new DecimalFormat("0.#"));
        XYLineAndShapeRenderer renderer = new XYLineAndShapeRenderer();
        renderer.setSeriesLinesVisible(0, true);
        renderer.setSeriesPaint(0, Color.DARK_GRAY);
        renderer.setSeriesStroke(0, new BasicStroke(2f));
        for (int i = 1; i < data.getSeriesCount(); i++) {
            renderer.setSeriesLinesVisible(i, false);
        }
        XYPlot plot = new XYPlot(data, x, y, renderer);
        plot.setBackgroundPaint(Color.WHITE);
        plot.setDomainGridlinePaint(Color.LIGHT_GRAY);
        plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
        JFreeChart chart = new JFreeChart(panel.title(), new Font(Font.SANS_SERIF, Font.BOLD, 15), plot, true);
        chart.setBackgroundPaint(Color.WHITE);
        return chart;
    }
}
