package dev.arbor.generation.stree;

import dev.arbor.api.ArborException;
import dev.arbor.sampling.SamplingMath;

/** Numerics shared by the classes of this bundle. */
final class Decoding {
    private Decoding() {
    }

    /** softmax of a processed row in double; a row the chain emptied (all -inf) or broke (NaN) is named. */
    static double[] softmax(float[] processed, String model, int node) {
        try {
            return SamplingMath.softmax(processed);
        } catch (IllegalArgumentException e) {
            throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, "speculative-tree: the processor chain "
                    + "left no valid distribution for the " + model + " at tree node " + node + ": "
                    + e.getMessage());
        }
    }
}
