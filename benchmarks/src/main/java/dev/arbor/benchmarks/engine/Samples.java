package dev.arbor.benchmarks.engine;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** Per-round measurements of one quantity; medians and nearest-rank percentiles. */
public final class Samples {
    private final List<Double> values = new ArrayList<>();

    public void add(double value) {
        values.add(value);
    }

    public boolean isEmpty() {
        return values.isEmpty();
    }

    public int size() {
        return values.size();
    }

    /** The median (mean of the two middle values for an even count); NaN when empty. */
    public double median() {
        if (values.isEmpty()) {
            return Double.NaN;
        }
        double[] sorted = sorted();
        int n = sorted.length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }

    /** The smallest and largest value, for the spread column; NaN when empty. */
    public double min() {
        return values.isEmpty() ? Double.NaN : sorted()[0];
    }

    public double max() {
        return values.isEmpty() ? Double.NaN : sorted()[values.size() - 1];
    }

    private double[] sorted() {
        double[] sorted = values.stream().mapToDouble(Double::doubleValue).toArray();
        Arrays.sort(sorted);
        return sorted;
    }
}
