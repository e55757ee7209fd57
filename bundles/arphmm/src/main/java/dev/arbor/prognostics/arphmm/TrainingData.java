package dev.arbor.prognostics.arphmm;

import dev.arbor.api.ArborException;
import java.util.ArrayList;
import java.util.List;

/**
 * Sequences to train on, checked: each a T × D series (T &gt; P, finite values) and, where known, a T × K matrix of
 * plausibilities l_t(k) ∈ [0, 1] with at least one non-zero entry per row (null: fully hidden, l ≡ 1).
 */
final class TrainingData {
    final List<double[][]> sequences;
    final List<double[][]> plausibilities;
    final int dimension;

    TrainingData(List<double[][]> sequences, List<double[][]> plausibilities, int states, int order) {
        if (sequences == null || sequences.isEmpty()) {
            throw ArborException.invalid("no training sequences: give at least one series");
        }
        if (plausibilities != null && plausibilities.size() != sequences.size()) {
            throw ArborException.invalid("plausibilities were given for " + plausibilities.size() + " sequences but"
                    + " there are " + sequences.size() + " (one plausibility matrix per sequence, or none)");
        }
        int d = sequences.get(0).length == 0 ? 0 : sequences.get(0)[0].length;
        List<double[][]> l = new ArrayList<>();
        for (int i = 0; i < sequences.size(); i++) {
            double[][] l0 = plausibilities == null ? null : plausibilities.get(i);
            Series.check("training sequence " + (i + 1), sequences.get(i), d, order);
            if (l0 != null) {
                Series.checkPlausibilities("plausibilities of training sequence " + (i + 1), l0,
                        sequences.get(i).length, states);
            }
            l.add(l0);
        }
        this.sequences = List.copyOf(sequences);
        this.plausibilities = java.util.Collections.unmodifiableList(l);
        this.dimension = d;
    }

    int size() {
        return sequences.size();
    }
}
