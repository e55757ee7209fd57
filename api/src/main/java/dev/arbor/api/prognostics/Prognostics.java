package dev.arbor.api.prognostics;

import java.util.List;

/**
 * Serves the prognostic models an operator declared: assesses a health-indicator series with one of them, and
 * (operator-local, never exposed to remote clients) fits and declares new ones. Failures are
 * {@link dev.arbor.api.ArborException}s: INVALID_INPUT for a bad series or option, NOT_FOUND (naming the declared
 * models) for an unknown model, CANCELLED when the request's cancellation fires.
 */
public interface Prognostics {

    /** The names of the declared models, sorted. */
    List<String> models();

    /** State posteriors, Viterbi path, remaining useful life and forecast of {@code request}'s series. */
    Assessment assess(AssessRequest request);

    /** Fits a model on the request's sequences and declares it under the request's name; answers what was fitted. */
    FitReport fit(FitRequest request);
}
