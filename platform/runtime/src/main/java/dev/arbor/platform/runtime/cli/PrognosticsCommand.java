package dev.arbor.platform.runtime.cli;

import dev.arbor.api.ArborException;
import dev.arbor.api.prognostics.AssessRequest;
import dev.arbor.api.prognostics.Assessment;
import dev.arbor.api.prognostics.FitReport;
import dev.arbor.api.prognostics.FitRequest;
import dev.arbor.api.prognostics.Prognostics;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.osgi.framework.BundleContext;
import org.osgi.util.tracker.ServiceTracker;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code arbor prognostics}: fit a prognostic model on health-indicator series and declare it (operator-local:
 * writes {@code etc/prognostics/NAME.json}), list the declared models, and assess a series with one (state
 * posteriors, Viterbi path, remaining useful life, forecast). Series are CSV files: one step per line, one column
 * per dimension (comma, semicolon or blank separated); a non-numeric first line is a header, blank lines and lines
 * starting with '#' are skipped.
 */
@Command(name = "prognostics", mixinStandardHelpOptions = true,
        description = {"Prognostic models of degradation (ARPHMM): fit, list, assess.",
                "Example: arbor prognostics assess --model turbofan-synthetic --series unit7.csv --samples 2000"})
final class PrognosticsCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    private final BundleContext context;
    private final long waitMillis;

    private PrognosticsCommand(BundleContext context, long waitMillis) {
        this.context = context;
        this.waitMillis = waitMillis;
    }

    /** The {@code prognostics} command with its subcommands. */
    static CommandLine create(BundleContext context, long waitMillis, PrintStream out) {
        PrognosticsCommand root = new PrognosticsCommand(context, waitMillis);
        return new CommandLine(root).addSubcommand("fit", root.new Fit(out))
                .addSubcommand("assess", root.new Assess(out)).addSubcommand("models", root.new Models(out));
    }

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    /** The Prognostics service, waiting for its bundle to start (bundles start asynchronously). */
    private Prognostics service() {
        ServiceTracker<Prognostics, Prognostics> tracker = new ServiceTracker<>(context, Prognostics.class, null);
        tracker.open();
        try {
            Prognostics p = tracker.waitForService(waitMillis);
            if (p == null) {
                throw new ArborException(ArborException.Kind.UNAVAILABLE, "no prognostics service is running: the"
                        + " bundle dev.arbor.prognostics.arphmm is missing or not started (see 'arbor bundles')");
            }
            return p;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ArborException(ArborException.Kind.CANCELLED, "interrupted while waiting for the prognostics"
                    + " service");
        } finally {
            tracker.close();
        }
    }

    @Command(name = "fit", mixinStandardHelpOptions = true,
            description = {"Fit an ARPHMM by EM on run series and declare it as etc/prognostics/NAME.json.",
                    "Example: arbor prognostics fit --series u1.csv --series u2.csv --run-to-failure --states 8"
                            + " --order 1 --out my-fleet"})
    final class Fit implements Callable<Integer> {
        private final PrintStream out;

        @Option(names = "--series", required = true, description = "A training series (CSV; repeatable: one file"
                + " per unit or run).")
        List<Path> series = new ArrayList<>();
        @Option(names = "--labels", description = "Plausibilities of the states for the series of the same position"
                + " (CSV, one row of K values in [0, 1] per step; repeatable, one per --series).")
        List<Path> labels = new ArrayList<>();
        @Option(names = "--run-to-failure", description = "Each series ends at failure: its last step is the failure"
                + " state (the last state) and no earlier step is (partial knowledge).")
        boolean runToFailure;
        @Option(names = "--states", required = true, description = "Number of states K (with --run-to-failure,"
                + " including the failure state).")
        int states;
        @Option(names = "--order", description = "AR order P (default: ${DEFAULT-VALUE}).")
        int order = 1;
        @Option(names = "--topology", description = "left-right, chain or full (default: ${DEFAULT-VALUE}).")
        String topology = "left-right";
        @Option(names = "--restarts", description = "EM restarts (default: ${DEFAULT-VALUE}).")
        int restarts = 5;
        @Option(names = "--max-iterations", description = "EM iterations per restart (default: ${DEFAULT-VALUE}).")
        int maxIterations = 200;
        @Option(names = "--seed", description = "Seed of the initialisations (default: ${DEFAULT-VALUE}).")
        long seed;
        @Option(names = "--description", description = "What the model is, stored in its file.")
        String description = "";
        @Option(names = "--replace", description = "Replace an existing model of that name.")
        boolean replace;
        @Option(names = "--out", required = true, description = "Name to declare the model under.")
        String name;

        Fit(PrintStream out) {
            this.out = out;
        }

        @Override
        public Integer call() {
            if (!labels.isEmpty() && runToFailure) {
                throw ArborException.invalid("give either --labels or --run-to-failure, not both");
            }
            if (!labels.isEmpty() && labels.size() != series.size()) {
                throw ArborException.invalid(labels.size() + " --labels files for " + series.size() + " --series"
                        + " files: give one per series, in the same order");
            }
            if (states < 1 || (runToFailure && states < 2)) {
                throw ArborException.invalid("--states must be at least " + (runToFailure ? 2 : 1) + ", got "
                        + states);
            }
            List<double[][]> data = new ArrayList<>();
            for (Path file : series) {
                data.add(readCsv(file, "series"));
            }
            List<double[][]> plausibilities = null;
            if (!labels.isEmpty()) {
                plausibilities = new ArrayList<>();
                for (Path file : labels) {
                    plausibilities.add(readCsv(file, "labels"));
                }
            } else if (runToFailure) {
                plausibilities = new ArrayList<>();
                for (double[][] y : data) {
                    double[][] l = new double[y.length][states];
                    for (int t = 0; t < y.length - 1; t++) {
                        Arrays.fill(l[t], 0, states - 1, 1.0);
                    }
                    l[y.length - 1][states - 1] = 1;
                    plausibilities.add(l);
                }
            }
            long start = System.nanoTime();
            FitReport report = service().fit(new FitRequest(name, data, plausibilities, states, order, topology,
                    restarts, maxIterations, seed, description, replace));
            out.printf(Locale.ROOT, "declared prognostic model '%s' (%s): %d states, AR order %d, %d training steps,"
                            + " log-likelihood %.4f after %d EM iterations (restart %d), %.1f s%n", report.name(),
                    report.location(), states, order, report.steps(), report.logLikelihood(), report.iterations(),
                    report.restart(), (System.nanoTime() - start) / 1e9);
            return 0;
        }
    }

    @Command(name = "models", mixinStandardHelpOptions = true, description = "List the declared prognostic models.")
    final class Models implements Callable<Integer> {
        private final PrintStream out;

        Models(PrintStream out) {
            this.out = out;
        }

        @Override
        public Integer call() {
            service().models().forEach(out::println);
            return 0;
        }
    }

    @Command(name = "assess", mixinStandardHelpOptions = true,
            description = {"Assess a health-indicator series with a declared model: current state, remaining useful"
                    + " life, Viterbi path, forecast.",
                    "Example: arbor prognostics assess --model turbofan-synthetic --series unit.csv --samples 2000"})
    final class Assess implements Callable<Integer> {
        private final PrintStream out;

        @Option(names = "--model", required = true, description = "A declared model (see 'arbor prognostics"
                + " models').")
        String model;
        @Option(names = "--series", required = true, description = "The series (CSV, oldest step first).")
        Path series;
        @Option(names = "--plausibilities", description = "Known plausibilities of the states (CSV, one row of K"
                + " values in [0, 1] per step).")
        Path plausibilities;
        @Option(names = "--samples", description = "Monte-Carlo paths for RUL quantiles and the forecast (default:"
                + " ${DEFAULT-VALUE}; 0 = expected RUL only).")
        int samples = 1000;
        @Option(names = "--horizon", description = "Steps to forecast (default: ${DEFAULT-VALUE}).")
        int horizon;
        @Option(names = "--seed", description = "Seed of the Monte-Carlo paths (default: ${DEFAULT-VALUE}).")
        long seed;
        @Option(names = "--posteriors", description = "Also write the filtered and smoothed posteriors and the"
                + " Viterbi state of every step to this CSV file.")
        Path posteriors;

        Assess(PrintStream out) {
            this.out = out;
        }

        @Override
        public Integer call() {
            double[][] y = readCsv(series, "series");
            double[][] l = plausibilities == null ? null : readCsv(plausibilities, "plausibilities");
            Assessment a = service().assess(new AssessRequest(model, y, l, horizon, samples, seed, null));
            double[] current = a.filtered()[a.filtered().length - 1];
            out.printf(Locale.ROOT, "model %s, %d steps (the first %d condition the AR part), log-likelihood %.4f%n",
                    a.model(), y.length, a.firstStep(), a.logLikelihood());
            out.printf(Locale.ROOT, "current state: %d of 0..%d (failure state %d), P = %.4f%n", a.currentState(),
                    a.states() - 1, a.failureState(), current[a.currentState()]);
            out.println("state posterior: " + join(current));
            out.printf(Locale.ROOT, "remaining useful life: expected %s steps%n", number(a.rul().expected()));
            if (a.rul().samples() > 0) {
                StringBuilder q = new StringBuilder();
                for (int i = 0; i < a.rul().levels().length; i++) {
                    q.append(i == 0 ? "" : ", ").append(String.format(Locale.ROOT, "%.0f%% %s",
                            100 * a.rul().levels()[i], number(a.rul().quantiles()[i])));
                }
                out.printf(Locale.ROOT, "RUL quantiles (%d paths%s): %s%n", a.rul().samples(), a.rul().censored() > 0
                        ? String.format(Locale.ROOT, ", %.1f%% censored", 100 * a.rul().censored()) : "", q);
            }
            out.println("Viterbi path (state x steps): " + runs(a.viterbi()));
            if (a.forecast() != null) {
                Assessment.Forecast f = a.forecast();
                out.println("forecast (step: mean [5%, 95%] of dimension 0, P(failed)):");
                for (int h = 0; h < f.horizon(); h++) {
                    out.printf(Locale.ROOT, "  +%d: %.4f [%.4f, %.4f] %.3f%n", h + 1, f.mean()[h][0], f.lower()[h][0],
                            f.upper()[h][0], f.failureProbability()[h]);
                }
            }
            if (posteriors != null) {
                writePosteriors(a);
            }
            return 0;
        }

        private void writePosteriors(Assessment a) {
            StringBuilder csv = new StringBuilder("step");
            for (int s = 0; s < a.states(); s++) {
                csv.append(",filtered_").append(s);
            }
            for (int s = 0; s < a.states(); s++) {
                csv.append(",smoothed_").append(s);
            }
            csv.append(",viterbi\n");
            for (int t = 0; t < a.filtered().length; t++) {
                csv.append(t + a.firstStep());
                for (double v : a.filtered()[t]) {
                    csv.append(',').append(v);
                }
                for (double v : a.smoothed()[t]) {
                    csv.append(',').append(v);
                }
                csv.append(',').append(a.viterbi()[t]).append('\n');
            }
            try {
                Files.writeString(posteriors, csv, StandardCharsets.UTF_8);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write " + posteriors, e);
            }
        }
    }

    private static String number(double v) {
        return Double.isInfinite(v) ? "never (the failure state may not be reached)"
                : String.format(Locale.ROOT, "%.1f", v);
    }

    private static String join(double[] v) {
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < v.length; i++) {
            s.append(i == 0 ? "" : " ").append(String.format(Locale.ROOT, "%.4f", v[i]));
        }
        return s.toString();
    }

    /** A path as runs: "0x120 1x30 3x4". */
    static String runs(int[] path) {
        StringBuilder s = new StringBuilder();
        int i = 0;
        while (i < path.length) {
            int j = i;
            while (j < path.length && path[j] == path[i]) {
                j++;
            }
            s.append(s.length() == 0 ? "" : " ").append(path[i]).append('x').append(j - i);
            i = j;
        }
        return s.toString();
    }

    /**
     * The numbers of a CSV file, one row per step: separators comma, semicolon or blanks; a first line that is not
     * numeric is a header; blank lines and '#' comments are skipped; every row must have the first row's width.
     */
    static double[][] readCsv(Path file, String what) {
        String text = CliFiles.readText(file, what, System.in);
        List<double[]> rows = new ArrayList<>();
        String[] lines = text.split("\r?\n", -1);
        for (int n = 0; n < lines.length; n++) {
            String line = lines[n].strip();
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            String[] cells = line.split("\\s*[,;\\s]\\s*");
            double[] row = new double[cells.length];
            try {
                for (int c = 0; c < cells.length; c++) {
                    row[c] = Double.parseDouble(cells[c]);
                }
            } catch (NumberFormatException e) {
                if (rows.isEmpty() && n == firstContentLine(lines)) {
                    continue; // a header
                }
                throw ArborException.invalid("the " + what + " file " + file + ", line " + (n + 1) + ": '"
                        + clip(line) + "' is not a row of numbers");
            }
            if (!rows.isEmpty() && row.length != rows.get(0).length) {
                throw ArborException.invalid("the " + what + " file " + file + ", line " + (n + 1) + ": " + row.length
                        + " values where the first row has " + rows.get(0).length);
            }
            rows.add(row);
        }
        if (rows.isEmpty()) {
            throw ArborException.invalid("the " + what + " file " + file + " holds no rows of numbers");
        }
        return rows.toArray(new double[0][]);
    }

    private static int firstContentLine(String[] lines) {
        for (int n = 0; n < lines.length; n++) {
            String l = lines[n].strip();
            if (!l.isEmpty() && !l.startsWith("#")) {
                return n;
            }
        }
        return -1;
    }

    private static String clip(String s) {
        return s.length() > 60 ? s.substring(0, 60) + "..." : s;
    }
}
