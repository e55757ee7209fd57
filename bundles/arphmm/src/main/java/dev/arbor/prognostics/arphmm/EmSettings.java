package dev.arbor.prognostics.arphmm;

import dev.arbor.api.ArborException;

/**
 * How to fit an ARPHMM by EM.
 *
 * @param states        K ≥ 1
 * @param order         AR order P ≥ 0
 * @param topology      the allowed transitions (kept as structural zeros)
 * @param failureState  the state whose entry ends the useful life (-1: the last state)
 * @param restarts      independent initialisations (the best final log-likelihood wins) ≥ 1
 * @param maxIterations EM iterations per restart ≥ 1
 * @param tolerance     stop when the log-likelihood grows by less than this, relative to its magnitude
 * @param ridge         λ ≥ 0 added to the diagonal of the weighted normal equations of each regression
 * @param covarianceFloor ε ≥ 0 added to the diagonal of each covariance (keeps them positive definite)
 * @param seed          seeds the initialisations
 */
public record EmSettings(int states, int order, Topology topology, int failureState, int restarts, int maxIterations,
                         double tolerance, double ridge, double covarianceFloor, long seed) {
    /** The defaults of METHODS §3.19: 5 restarts, 200 iterations, tolerance 1e-6, λ = 1e-6, ε = 1e-6. */
    public static EmSettings of(int states, int order, Topology topology) {
        return new EmSettings(states, order, topology, -1, 5, 200, 1e-6, 1e-6, 1e-6, 0);
    }

    public EmSettings {
        if (states < 1 || states > 64) {
            throw ArborException.invalid("states must be 1..64, got " + states);
        }
        if (order < 0 || order > 64) {
            throw ArborException.invalid("order (AR order P) must be 0..64, got " + order);
        }
        if (failureState < -1 || failureState >= states) {
            throw ArborException.invalid("failure state must be a state 0.." + (states - 1) + " (or -1: the last)");
        }
        if (restarts < 1 || restarts > 1000) {
            throw ArborException.invalid("restarts must be 1..1000, got " + restarts);
        }
        if (maxIterations < 1 || maxIterations > 100_000) {
            throw ArborException.invalid("max iterations must be 1..100000, got " + maxIterations);
        }
        if (!(tolerance >= 0) || !(ridge >= 0) || !(covarianceFloor >= 0) || !Double.isFinite(tolerance)
                || !Double.isFinite(ridge) || !Double.isFinite(covarianceFloor)) {
            throw ArborException.invalid("tolerance, ridge and covariance floor must be finite and ≥ 0");
        }
        if (topology == null) {
            throw ArborException.invalid("topology is required (full, left-right or chain)");
        }
    }

    public EmSettings withRestarts(int n) {
        return new EmSettings(states, order, topology, failureState, n, maxIterations, tolerance, ridge,
                covarianceFloor, seed);
    }

    public EmSettings withIterations(int n, double tol) {
        return new EmSettings(states, order, topology, failureState, restarts, n, tol, ridge, covarianceFloor, seed);
    }

    public EmSettings withRegularisation(double lambda, double epsilon) {
        return new EmSettings(states, order, topology, failureState, restarts, maxIterations, tolerance, lambda,
                epsilon, seed);
    }

    public EmSettings withSeed(long s) {
        return new EmSettings(states, order, topology, failureState, restarts, maxIterations, tolerance, ridge,
                covarianceFloor, s);
    }

    int failure() {
        return failureState < 0 ? states - 1 : failureState;
    }
}
