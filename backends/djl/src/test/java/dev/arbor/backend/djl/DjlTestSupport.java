package dev.arbor.backend.djl;

import dev.arbor.api.Options;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelSpec;
import dev.arbor.testkit.SharedModels;

/** Shared helpers of the djl backend tests. */
final class DjlTestSupport {
    private DjlTestSupport() {
    }

    /** A provider as SCR would create it (the runtime reference is only a start-order guard outside OSGi). */
    static DjlBackendProvider provider() {
        return new DjlBackendProvider();
    }

    /** stories260K on the djl backend (skips, or fails under -Darbor.requireModels=true, without the models). */
    static ModelBackend stories260k() {
        return provider().open(new ModelSpec(SharedModels.require("stories260K/stories260K.bin"), "llama2c",
                Options.empty()));
    }

    static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            if (v[i] > v[best]) {
                best = i;
            }
        }
        return best;
    }

    static double maxAbsDiff(float[] a, float[] b) {
        if (a.length != b.length) {
            throw new AssertionError("lengths differ: " + a.length + " vs " + b.length);
        }
        double worst = 0;
        for (int i = 0; i < a.length; i++) {
            worst = Math.max(worst, Math.abs((double) a[i] - b[i]));
        }
        return worst;
    }
}
