package dev.arbor.benchmarks.plot;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Small dependency-free SVG charts for {@code BENCHMARKS.md}: horizontal bars (one value per label, grouped under
 * headings) and lines over a log2 x axis. SVG because a text figure diffs and renders on any git host; written by hand
 * because JFreeChart (which {@code diffusion.TradeOffPlot} uses for its PNG) exports SVG only through JFreeSVG, a
 * GPLv3 library this project does not depend on.
 *
 * <p>Each {@code write} call lays out panels side by side, one per group, each with its own value scale.
 */
public final class SvgChart {
    /**
     * One bar: a label, a value (null: drawn as "not measured") and a colour group (bars of one engine share a
     * colour across panels).
     */
    public record Bar(String label, Double value, int group) {
        /** A bar coloured by its position in the panel. */
        public Bar(String label, Double value) {
            this(label, value, -1);
        }
    }

    /** A titled group of bars (one panel). */
    public record BarPanel(String title, List<Bar> bars) {
    }

    /** One line: a name and (x, y) points. */
    public record Series(String name, double[] x, double[] y) {
    }

    /** A titled group of lines (one panel). */
    public record LinePanel(String title, List<Series> series) {
    }

    private static final String[] COLORS = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
        "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
    private static final int LABEL_WIDTH = 260;
    private static final int BAR_AREA = 380;
    private static final int ROW = 22;

    private SvgChart() {
    }

    /** Horizontal bar panels side by side; {@code unit} labels the value axis. */
    public static void bars(String title, String unit, List<BarPanel> panels, Path svg) throws IOException {
        int panelWidth = LABEL_WIDTH + BAR_AREA + 80;
        int rows = panels.stream().mapToInt(p -> p.bars().size()).max().orElse(0);
        int height = 70 + rows * ROW + 40;
        StringBuilder s = header(panelWidth * panels.size(), height, title);
        for (int p = 0; p < panels.size(); p++) {
            BarPanel panel = panels.get(p);
            int x0 = p * panelWidth;
            double max = panel.bars().stream().filter(b -> b.value() != null).mapToDouble(Bar::value).max()
                    .orElse(1);
            double scale = niceCeiling(max);
            text(s, x0 + panelWidth / 2.0, 50, panel.title(), "middle", 14, true);
            int top = 64;
            for (int i = 0; i < panel.bars().size(); i++) {
                Bar b = panel.bars().get(i);
                double y = top + i * ROW;
                text(s, x0 + LABEL_WIDTH - 6, y + 15, b.label(), "end", 12, false);
                if (b.value() == null) {
                    text(s, x0 + LABEL_WIDTH + 4, y + 15, "not measured", "start", 11, false);
                    continue;
                }
                double w = BAR_AREA * b.value() / scale;
                s.append(String.format(Locale.ROOT,
                        "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%d\" fill=\"%s\"/>%n",
                        (double) x0 + LABEL_WIDTH, y + 3, w, ROW - 6,
                        COLORS[(b.group() >= 0 ? b.group() : i) % COLORS.length]));
                text(s, x0 + LABEL_WIDTH + w + 4, y + 15, format(b.value()), "start", 11, false);
            }
            double axisY = top + panel.bars().size() * ROW + 4;
            line(s, x0 + LABEL_WIDTH, axisY, x0 + LABEL_WIDTH + BAR_AREA, axisY);
            for (int t = 0; t <= 4; t++) {
                double x = x0 + LABEL_WIDTH + BAR_AREA * t / 4.0;
                line(s, x, axisY, x, axisY + 4);
                text(s, x, axisY + 16, format(scale * t / 4), "middle", 10, false);
            }
            text(s, x0 + LABEL_WIDTH + BAR_AREA / 2.0, axisY + 30, unit, "middle", 11, false);
        }
        finish(s, svg);
    }

    /** Line panels side by side over a log2 x axis (x values must be positive). */
    public static void lines(String title, String xLabel, String yLabel, List<LinePanel> panels, Path svg)
            throws IOException {
        int w = 520;
        int h = 380;
        int left = 70;
        int right = 170;   // legend
        int top = 60;
        int bottom = 50;
        StringBuilder s = header(w * panels.size(), h, title);
        for (int p = 0; p < panels.size(); p++) {
            LinePanel panel = panels.get(p);
            int x0 = p * w;
            double minX = Double.MAX_VALUE;
            double maxX = -Double.MAX_VALUE;
            double maxY = 0;
            for (Series series : panel.series()) {
                for (int i = 0; i < series.x().length; i++) {
                    minX = Math.min(minX, series.x()[i]);
                    maxX = Math.max(maxX, series.x()[i]);
                    maxY = Math.max(maxY, series.y()[i]);
                }
            }
            if (minX == Double.MAX_VALUE) {
                continue;
            }
            double lx0 = log2(minX);
            double lx1 = Math.max(log2(maxX), lx0 + 1);
            double yScale = niceCeiling(maxY);
            int plotW = w - left - right;
            int plotH = h - top - bottom;
            double ox = x0 + left;
            double oy = top + plotH;
            text(s, x0 + left + plotW / 2.0, 45, panel.title(), "middle", 14, true);
            line(s, ox, oy, ox + plotW, oy);
            line(s, ox, oy, ox, top);
            for (double lx = Math.ceil(lx0); lx <= lx1 + 1e-9; lx++) {
                double x = ox + plotW * (lx - lx0) / (lx1 - lx0);
                line(s, x, oy, x, oy + 4);
                text(s, x, oy + 16, format(Math.pow(2, lx)), "middle", 10, false);
            }
            for (int t = 0; t <= 4; t++) {
                double y = oy - plotH * t / 4.0;
                line(s, ox - 4, y, ox, y);
                text(s, ox - 6, y + 4, format(yScale * t / 4), "end", 10, false);
            }
            text(s, ox + plotW / 2.0, h - 12, xLabel, "middle", 11, false);
            s.append(String.format(Locale.ROOT,
                    "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\" transform=\"rotate(-90 %.1f"
                            + " %.1f)\">%s</text>%n", x0 + 16.0, top + plotH / 2.0, x0 + 16.0, top + plotH / 2.0,
                    escape(yLabel)));
            for (int i = 0; i < panel.series().size(); i++) {
                Series series = panel.series().get(i);
                String color = COLORS[i % COLORS.length];
                List<String> points = new ArrayList<>();
                for (int k = 0; k < series.x().length; k++) {
                    double x = ox + plotW * (log2(series.x()[k]) - lx0) / (lx1 - lx0);
                    double y = oy - plotH * series.y()[k] / yScale;
                    points.add(String.format(Locale.ROOT, "%.1f,%.1f", x, y));
                    s.append(String.format(Locale.ROOT, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>%n",
                            x, y, color));
                }
                s.append(String.format(Locale.ROOT,
                        "<polyline points=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"/>%n",
                        String.join(" ", points), color));
                double ly = top + 10 + i * 18;
                s.append(String.format(Locale.ROOT,
                        "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"3\" fill=\"%s\"/>%n",
                        ox + plotW + 12, ly - 4, color));
                text(s, ox + plotW + 28, ly, series.name(), "start", 11, false);
            }
        }
        finish(s, svg);
    }

    private static StringBuilder header(int width, int height, String title) {
        StringBuilder s = new StringBuilder();
        s.append(String.format(Locale.ROOT, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\""
                + " viewBox=\"0 0 %d %d\" font-family=\"sans-serif\">%n", width, height, width, height));
        s.append(String.format(Locale.ROOT, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>%n", width, height));
        text(s, width / 2.0, 22, title, "middle", 16, true);
        return s;
    }

    private static void finish(StringBuilder s, Path svg) throws IOException {
        s.append("</svg>\n");
        Path parent = svg.toAbsolutePath().getParent();
        if (parent != null) {
            Files.createDirectories(parent);
        }
        Files.writeString(svg, s);
    }

    private static void text(StringBuilder s, double x, double y, String text, String anchor, int size,
                             boolean bold) {
        s.append(String.format(Locale.ROOT,
                "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%d\" text-anchor=\"%s\"%s>%s</text>%n", x, y, size, anchor,
                bold ? " font-weight=\"bold\"" : "", escape(text)));
    }

    private static void line(StringBuilder s, double x1, double y1, double x2, double y2) {
        s.append(String.format(Locale.ROOT,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444\" stroke-width=\"1\"/>%n",
                x1, y1, x2, y2));
    }

    /** The smallest 1, 2, 4 or 5 times a power of ten at least {@code v}: an axis end whose quarter ticks are round. */
    static double niceCeiling(double v) {
        if (!(v > 0)) {
            return 1;
        }
        double p = Math.pow(10, Math.floor(Math.log10(v)));
        for (double m : new double[] {1, 2, 4, 5, 10}) {
            if (m * p >= v) {
                return m * p;
            }
        }
        return 10 * p;
    }

    private static String format(double v) {
        if (v >= 100 || v == Math.rint(v)) {
            return String.format(Locale.ROOT, "%,.0f", v);
        }
        return String.format(Locale.ROOT, "%.2g", v);
    }

    private static double log2(double v) {
        return Math.log(v) / Math.log(2);
    }

    private static String escape(String text) {
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
    }
}
