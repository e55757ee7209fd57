package dev.arbor.prognostics.arphmm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The model the distribution ships ({@code etc/prognostics/turbofan-synthetic.json}): how it was trained, that this
 * recipe reproduces it, and how well its RUL does on held-out units. Regenerate it with
 * {@code mvn -pl bundles/arphmm test -Dtest=ShippedModelTest -Darphmm.write=true}.
 *
 * <p>Recipe: 40 run-to-failure units of {@link DegradationGenerator#standard()} (seed 2026); K = 12 left-right states (11 degradation states and the failure state),
 * AR order 1; partial knowledge as in a fleet's maintenance records: each unit's last step is known to be the
 * failure (l = one-hot on state 11) and every earlier step known not to be (l(11) = 0, the other states hidden);
 * EM with 2 restarts, 200 iterations, tolerance 1e-6, λ = ε = 1e-6, seed 7.
 */
class ShippedModelTest {
    static final Path SHIPPED = Path.of("../../distribution/src/dist/etc/prognostics/turbofan-synthetic.json");
    static final int K = 12;

    /** The plausibilities of a run to failure: only the last step is the failure state. */
    static double[][] runToFailure(int length, int states) {
        double[][] l = new double[length][states];
        for (int t = 0; t < length - 1; t++) {
            Arrays.fill(l[t], 0, states - 1, 1.0);
        }
        l[length - 1][states - 1] = 1;
        return l;
    }

    static String train() {
        List<DegradationGenerator.Unit> units = DegradationGenerator.standard().units(40, 2026);
        List<double[][]> series = new ArrayList<>();
        List<double[][]> labels = new ArrayList<>();
        for (DegradationGenerator.Unit u : units) {
            series.add(u.series());
            labels.add(runToFailure(u.series().length, K));
        }
        EmSettings settings = EmSettings.of(K, 1, Topology.LEFT_RIGHT).withRestarts(2).withSeed(7);
        EmTrainer.Result r = EmTrainer.fit(series, labels, settings);
        Map<String, Object> training = new LinkedHashMap<>();
        training.put("data", "40 synthetic run-to-failure units (DegradationGenerator.standard(), seed 2026; CMAPSS"
                + " cannot be downloaded by the project)");
        training.put("plausibilities", "last step of each unit = failure state 11; earlier steps: not state 11");
        training.put("recipe", "bundles/arphmm ShippedModelTest");
        training.put("restarts", settings.restarts());
        training.put("winning_restart", r.restart());
        training.put("iterations", r.iterations());
        training.put("log_likelihood", r.logLikelihood());
        return ModelJson.write(r.model(), "ARPHMM of a synthetic turbofan health indicator (1 value per cycle, 1 ="
                + " healthy, 0.2 = failure): 11 degradation states and the failure state 11; RUL in cycles", training);
    }

    @Test
    void theShippedModelIsWhatTheRecipeTrains() throws Exception {
        String trained = train();
        if (Boolean.getBoolean("arphmm.write")) {
            Files.createDirectories(SHIPPED.getParent());
            Files.writeString(SHIPPED, trained, StandardCharsets.UTF_8);
        }
        ArHmm shipped = ModelJson.read(Files.readString(SHIPPED), SHIPPED.toString()).model();
        ArHmm again = ModelJson.read(trained, "trained").model();
        for (int s = 0; s < K; s++) {
            for (int j = 0; j < K; j++) {
                assertThat(shipped.transitions()[s][j]).isCloseTo(again.transitions()[s][j], within(1e-9));
            }
            assertThat(shipped.regression(s)[0]).containsExactly(again.regression(s)[0], within(1e-9));
        }
    }

    /**
     * On 30 held-out units, the expected RUL late in life (75 % and 90 % of each life), when the health indicator
     * shows the degradation, beats the fleet-average baseline (mean training life minus age). Early in life it does
     * not, and cannot: a flat indicator says nothing about the onset, and the geometric sojourn of a Markov state
     * forgets the unit's age, which the baseline uses (an explicit-duration model would be needed there). The RMSEs
     * are printed for all four points.
     */
    @Test
    void theShippedModelPredictsTheRemainingLifeOfHeldOutUnits() throws Exception {
        ArHmm model = ModelJson.read(Files.readString(SHIPPED), SHIPPED.toString()).model();
        double meanLife = DegradationGenerator.standard().units(40, 2026).stream()
                .mapToInt(u -> u.series().length).average().orElseThrow();
        List<DegradationGenerator.Unit> test = DegradationGenerator.standard().units(30, 77);
        StringBuilder report = new StringBuilder("ARPHMM shipped model, held-out RMSE (cycles):");
        for (double fraction : new double[] {0.25, 0.5, 0.75, 0.9}) {
            double se = 0;
            double seBaseline = 0;
            for (DegradationGenerator.Unit u : test) {
                int t = (int) (fraction * (u.series().length - 1));
                double[][] seen = Arrays.copyOf(u.series(), t + 1);
                double[] current = ForwardBackward.filter(model, seen, null).filtered[t - model.order];
                double predicted = RemainingUsefulLife.expected(model, current);
                se += Math.pow(predicted - u.remaining(t), 2);
                seBaseline += Math.pow(Math.max(0, meanLife - t) - u.remaining(t), 2);
            }
            double rmse = Math.sqrt(se / test.size());
            double baseline = Math.sqrt(seBaseline / test.size());
            report.append(String.format(" at %.0f%% of life %.1f (fleet-average baseline %.1f);", 100 * fraction,
                    rmse, baseline));
            if (fraction >= 0.75) {
                assertThat(rmse).as("RMSE at %.2f of life", fraction).isLessThan(0.6 * baseline);
            }
        }
        System.out.println(report);
    }
}
