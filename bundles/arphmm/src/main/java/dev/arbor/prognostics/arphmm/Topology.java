package dev.arbor.prognostics.arphmm;

import dev.arbor.api.ArborException;
import java.util.Locale;

/**
 * Which transitions a model may have. Zeros of the transition matrix are structural: EM keeps every zero it starts
 * with (a zero transition gets no expected count), so the topology chosen at initialisation is the topology learnt.
 */
public enum Topology {
    /** Every transition allowed. */
    FULL,
    /** Degradation only moves forward: A_jk = 0 for k &lt; j (any forward jump allowed). */
    LEFT_RIGHT,
    /** A left-right chain without jumps: A_jk = 0 unless k = j or k = j + 1 (a Bakis chain). */
    CHAIN;

    /** Whether the transition j → k is allowed. */
    public boolean allows(int j, int k) {
        return switch (this) {
            case FULL -> true;
            case LEFT_RIGHT -> k >= j;
            case CHAIN -> k == j || k == j + 1;
        };
    }

    /** The name used in model files and options: {@code full}, {@code left-right}, {@code chain}. */
    public String id() {
        return name().toLowerCase(Locale.ROOT).replace('_', '-');
    }

    /** Parses {@link #id()}; INVALID_INPUT naming the choices otherwise. */
    public static Topology parse(String id) {
        for (Topology t : values()) {
            if (t.id().equals(id)) {
                return t;
            }
        }
        throw ArborException.invalid("unknown topology '" + id + "'; choose full, left-right or chain");
    }
}
