package dev.arbor.prognostics.arphmm;

import dev.arbor.api.ArborException;
import dev.arbor.api.prognostics.AssessRequest;
import dev.arbor.api.prognostics.Assessment;

/**
 * Assesses one series with one model: checks the request against the model and the {@link Limits}, then runs
 * filtering and smoothing ({@link ForwardBackward}), {@link Viterbi}, the analytic and Monte-Carlo
 * {@link RemainingUsefulLife} and, for a horizon, the {@link Forecaster}. The Monte-Carlo parts check the request's
 * cancellation; the RUL paths use {@code seed}, the forecast an independent stream derived from it.
 */
final class Assessor {
    /** The RUL quantile levels answered. */
    static final double[] LEVELS = {0.05, 0.25, 0.5, 0.75, 0.95};

    private final Limits limits;

    Assessor(Limits limits) {
        this.limits = limits;
    }

    Assessment assess(String name, ArHmm model, AssessRequest request) {
        double[][] y = request.series();
        if (y == null) {
            throw ArborException.invalid("'series' is required: the health-indicator observations, one row per step");
        }
        if (y.length > limits.maxSeriesLength()) {
            throw ArborException.invalid("the series has " + y.length + " steps; this installation accepts at most "
                    + limits.maxSeriesLength() + " (send the latest steps only)");
        }
        if (model.dimension > limits.maxDimension()) {
            throw ArborException.invalid("model '" + name + "' has dimension " + model.dimension + ", above this"
                    + " installation's limit of " + limits.maxDimension());
        }
        Series.check("the series", y, model.dimension, model.order);
        if (request.plausibilities() != null) {
            Series.checkPlausibilities("'plausibilities'", request.plausibilities(), y.length, model.states);
        }
        if (request.samples() < 0 || request.samples() > limits.maxSamples()) {
            throw ArborException.invalid("'samples' must be 0.." + limits.maxSamples() + ", got " + request.samples());
        }
        if (request.horizon() < 0 || request.horizon() > limits.maxHorizon()) {
            throw ArborException.invalid("'horizon' must be 0.." + limits.maxHorizon() + ", got " + request.horizon());
        }
        if (request.horizon() > 0 && request.samples() == 0) {
            throw ArborException.invalid("a forecast ('horizon' " + request.horizon() + ") simulates paths: give"
                    + " 'samples' ≥ 1");
        }
        long values = (long) request.samples() * request.horizon() * model.dimension;
        if (values > limits.maxForecastValues()) {
            throw ArborException.invalid("samples × horizon × dimension = " + values + " exceeds this installation's"
                    + " limit of " + limits.maxForecastValues() + "; ask for fewer samples or a shorter horizon");
        }
        Emissions emissions = new Emissions(model, y, request.plausibilities());
        ForwardBackward fb = ForwardBackward.run(model, emissions, true);
        int[] path = Viterbi.path(model, emissions);
        double[] current = fb.filtered[fb.filtered.length - 1];
        int currentState = 0;
        for (int s = 1; s < current.length; s++) {
            if (current[s] > current[currentState]) {
                currentState = s;
            }
        }
        double expected = RemainingUsefulLife.expected(model, current);
        Assessment.Rul rul;
        if (request.samples() > 0) {
            double[] times = RemainingUsefulLife.simulate(model, current, request.samples(), limits.maxRulSteps(),
                    request.seed(), request.cancellation());
            double[] q = new double[LEVELS.length];
            for (int i = 0; i < q.length; i++) {
                q[i] = Sampling.quantile(times, LEVELS[i]);
            }
            int censored = 0;
            for (double t : times) {
                censored += Double.isInfinite(t) ? 1 : 0;
            }
            rul = new Assessment.Rul(expected, LEVELS.clone(), q, times.length, censored / (double) times.length);
        } else {
            rul = new Assessment.Rul(expected, new double[0], new double[0], 0, 0);
        }
        Assessment.Forecast forecast = null;
        if (request.horizon() > 0) {
            Forecaster f = Forecaster.simulate(model, y, current, request.horizon(), request.samples(),
                    request.seed() ^ 0x5DEECE66DL, request.cancellation());
            forecast = new Assessment.Forecast(request.horizon(), f.mean, f.lower, f.median, f.upper,
                    f.failureProbability);
        }
        return new Assessment(name, model.states, model.failureState, model.order, fb.filtered, fb.smoothed, path,
                currentState, fb.logLikelihood, rul, forecast);
    }
}
