package dev.arbor.prognostics.arphmm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.arbor.api.ArborException;
import dev.arbor.api.prognostics.AssessRequest;
import dev.arbor.api.prognostics.Assessment;
import dev.arbor.api.prognostics.FitReport;
import dev.arbor.api.prognostics.FitRequest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The service over declared models: fit declares a model, assess answers on it; hostile requests (unknown model,
 * NaN, too long, wrong shapes, limits, cancellation) are refused with the kind and a message naming the fix.
 */
class ArHmmPrognosticsTest {
    @TempDir
    Path etc;
    ArHmmPrognostics service;
    List<DegradationGenerator.Unit> units;

    @BeforeEach
    void fit() {
        service = new ArHmmPrognostics(etc.resolve("prognostics"), new Limits(500, 4, 2000, 50, 40_000, 10_000));
        units = DegradationGenerator.standard().units(6, 3);
        FitReport report = service.fit(new FitRequest("engine", units.stream().map(DegradationGenerator.Unit::series)
                .toList(), null, 4, 1, "left-right", 2, 100, 1, "test fleet", false));
        assertThat(report.location()).endsWith("engine.json");
        assertThat(report.iterations()).isPositive();
    }

    @Test
    void assessAnswersPosteriorsPathAndRulOnADeclaredModel() {
        double[][] series = units.get(0).series();
        Assessment a = service.assess(new AssessRequest("engine", series, null, 10, 500, 3, null));
        assertThat(service.models()).containsExactly("engine");
        assertThat(a.firstStep()).isEqualTo(1);
        assertThat(a.filtered()).hasNumberOfRows(series.length - 1);
        assertThat(a.smoothed()).hasNumberOfRows(series.length - 1);
        assertThat(a.viterbi()).hasSize(series.length - 1);
        for (double[] row : a.smoothed()) {
            assertThat(java.util.Arrays.stream(row).sum()).isCloseTo(1, within(1e-9));
        }
        // a left-right model read along a run: the path never goes back
        for (int t = 1; t < a.viterbi().length; t++) {
            assertThat(a.viterbi()[t]).isGreaterThanOrEqualTo(a.viterbi()[t - 1]);
        }
        assertThat(a.rul().expected()).isFinite().isNotNegative();
        assertThat(a.rul().quantiles()).hasSize(5).isSorted();
        assertThat(a.forecast().mean()).hasNumberOfRows(10);
        assertThat(a.forecast().failureProbability()).isSorted();
        // same seed, same answer
        Assessment again = service.assess(new AssessRequest("engine", series, null, 10, 500, 3, null));
        assertThat(again.rul().quantiles()).containsExactly(a.rul().quantiles());
    }

    @Test
    void theRulShrinksAsTheRunGoesOn() {
        double[][] series = units.get(1).series();
        double[][] early = java.util.Arrays.copyOf(series, series.length / 4);
        double early0 = service.assess(AssessRequest.of("engine", early)).rul().expected();
        double late = service.assess(AssessRequest.of("engine", java.util.Arrays.copyOf(series, series.length - 2)))
                .rul().expected();
        assertThat(late).isLessThan(early0);
    }

    private void refused(AssessRequest request, ArborException.Kind kind, String... fragments) {
        assertThatThrownBy(() -> service.assess(request)).isInstanceOf(ArborException.class)
                .satisfies(e -> assertThat(((ArborException) e).kind()).isEqualTo(kind))
                .hasMessageContainingAll(fragments);
    }

    @Test
    void hostileRequestsAreRefused() {
        double[][] ok = {{1.0}, {0.9}, {0.8}};
        refused(AssessRequest.of("nope", ok), ArborException.Kind.NOT_FOUND, "'nope'", "declared models: engine");
        refused(AssessRequest.of("../../etc/passwd", ok), ArborException.Kind.NOT_FOUND, "declared models");
        refused(AssessRequest.of("engine", new double[][] {{1.0}, {Double.NaN}}), ArborException.Kind.INVALID_INPUT,
                "step 1", "NaN");
        refused(AssessRequest.of("engine", new double[][] {{1.0}, {Double.POSITIVE_INFINITY}}),
                ArborException.Kind.INVALID_INPUT, "finite");
        refused(AssessRequest.of("engine", new double[501][1]), ArborException.Kind.INVALID_INPUT, "at most 500");
        refused(AssessRequest.of("engine", new double[][] {{1.0}}), ArborException.Kind.INVALID_INPUT,
                "needs more than 1");
        refused(AssessRequest.of("engine", new double[][] {{1.0}, {1.0, 2.0}}), ArborException.Kind.INVALID_INPUT,
                "step 1 holds 2 values, expected 1");
        refused(AssessRequest.of("engine", null), ArborException.Kind.INVALID_INPUT, "'series' is required");
        refused(new AssessRequest("engine", ok, new double[][] {{1, 0, 0, 0}, {2, 0, 0, 0}, {1, 0, 0, 0}}, 0, 0, 0,
                null), ArborException.Kind.INVALID_INPUT, "[0, 1]");
        refused(new AssessRequest("engine", ok, new double[][] {{1, 0, 0, 0}}, 0, 0, 0, null),
                ArborException.Kind.INVALID_INPUT, "1 rows for a series of 3 steps");
        refused(new AssessRequest("engine", ok, null, 0, 2001, 0, null), ArborException.Kind.INVALID_INPUT,
                "'samples' must be 0..2000");
        refused(new AssessRequest("engine", ok, null, 51, 10, 0, null), ArborException.Kind.INVALID_INPUT,
                "'horizon' must be 0..50");
        refused(new AssessRequest("engine", ok, null, 5, 0, 0, null), ArborException.Kind.INVALID_INPUT,
                "give 'samples' ≥ 1");
        refused(new AssessRequest("engine", ok, null, 50, 1000, 0, null), ArborException.Kind.INVALID_INPUT,
                "exceeds this installation's limit");
        refused(new AssessRequest("engine", ok, null, 0, 1000, 0, () -> true), ArborException.Kind.CANCELLED,
                "deadline");
    }

    @Test
    void limitsComeFromTheConfigurationWithDefaultsAndChecks() {
        Limits limits = Limits.from(java.util.Map.of("max_series_length", 1000, "max_samples", "50"), "config");
        assertThat(limits.maxSeriesLength()).isEqualTo(1000);
        assertThat(limits.maxSamples()).isEqualTo(50);
        assertThat(limits.maxHorizon()).isEqualTo(Limits.DEFAULT.maxHorizon());
        assertThatThrownBy(() -> Limits.from(java.util.Map.of("max_samples", -1), "config"))
                .hasMessageContaining("'max_samples' must be 0..");
        assertThatThrownBy(() -> Limits.from(java.util.Map.of("max_horizon", "many"), "config"))
                .hasMessageContaining("'max_horizon' must be an integer");
    }

    @Test
    void plausibilitiesThatRuleOutEveryReachableStateAreRefused() {
        double[][] series = units.get(0).series();
        double[][] l = new double[series.length][4];
        for (double[] row : l) {
            row[0] = 1;
        }
        l[series.length - 1] = new double[] {1, 0, 0, 0};
        l[series.length - 2] = new double[] {0, 0, 0, 1}; // failure, then back to new: impossible left to right
        refused(new AssessRequest("engine", series, l, 0, 0, 0, null), ArborException.Kind.INVALID_INPUT,
                "zero probability");
    }

    @Test
    void fitRefusesToOverwriteAndBadNames() throws Exception {
        List<double[][]> data = units.stream().map(DegradationGenerator.Unit::series).toList();
        assertThatThrownBy(() -> service.fit(new FitRequest("engine", data, null, 3, 1, "left-right", 1, 10, 1, "",
                false))).isInstanceOf(ArborException.class).hasMessageContaining("already declared");
        assertThatThrownBy(() -> service.fit(new FitRequest("../x", data, null, 3, 1, "left-right", 1, 10, 1, "",
                false))).isInstanceOf(ArborException.class).hasMessageContaining("not allowed");
        // a broken declaration is reported as broken, the good ones stay served
        Files.writeString(etc.resolve("prognostics/bad.json"), "{\"kind\": \"arphmm\"}");
        assertThatThrownBy(() -> service.assess(AssessRequest.of("bad", new double[][] {{1}, {2}})))
                .hasMessageContaining("is declared but its file is broken");
        assertThat(service.models()).containsExactly("engine");
    }
}
