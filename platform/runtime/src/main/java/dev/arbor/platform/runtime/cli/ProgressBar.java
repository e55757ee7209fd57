package dev.arbor.platform.runtime.cli;

import java.io.PrintStream;

/**
 * A one-line progress bar on a terminal stream ({@code \r}-redrawn): {@code [#####.....]  50% image 3/8}. Redraws
 * only when the shown percentage or label changes, so a fast loop does not flood a log file.
 */
final class ProgressBar {
    static final int WIDTH = 30;

    private final PrintStream err;
    private final long total;
    private long done;
    private String shown = "";

    ProgressBar(PrintStream err, long total) {
        this.err = err;
        this.total = Math.max(1, total);
    }

    /** One more unit done; {@code label} is shown after the percentage. */
    void step(String label) {
        done = Math.min(total, done + 1);
        draw(label);
    }

    /** Draws the full bar and ends the line. */
    void finish() {
        done = total;
        draw("done");
        err.println();
        err.flush();
    }

    private void draw(String label) {
        int percent = (int) (done * 100 / total);
        int filled = (int) (done * WIDTH / total);
        String line = "[" + "#".repeat(filled) + ".".repeat(WIDTH - filled) + "] " + String.format("%3d%%", percent)
                + " " + label;
        if (!line.equals(shown)) {
            // pad over a longer previous line
            err.print("\r" + line + " ".repeat(Math.max(0, shown.length() - line.length())));
            err.flush();
            shown = line;
        }
    }
}
