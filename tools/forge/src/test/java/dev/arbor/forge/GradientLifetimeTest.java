package dev.arbor.forge;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.training.GradientCollector;
import dev.arbor.models.llama2c.Llama2cConfig;
import java.lang.ref.Reference;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A training step's gradients must not depend on when the garbage collector runs. Everything autograd keeps for
 * the backward pass has to stay alive until it has run: a scalar that DJL wrapped in a temporary over a Java direct
 * buffer (its {@code mul(Number)}, {@code div(Number)}, {@code pow(Number)}) was freed by a collection between the
 * forward and the backward pass, and the smoke runs then saw a rare "non-finite loss or gradient" step.
 */
class GradientLifetimeTest {
    private static final Llama2cConfig CFG = new Llama2cConfig(32, 64, 2, 4, 4, 300, 16, true);

    @ParameterizedTest
    @ValueSource(strings = {"ar", "mdlm", "bd"})
    void gradientsAreTheSameWhenTheGarbageCollectorRunsBetweenForwardAndBackward(String kind) {
        DjlSetup.configure(1);
        TrainingObjective objective = TrainingObjective.of(new Recipe.Objective(kind, 4, 0.1), BpeTrainer.MASK_ID);
        SplittableRandom rng = new SplittableRandom(5);
        int[][] windows = new int[3][objective.windowLength(CFG.seqLen())];
        for (int[] w : windows) {
            for (int j = 0; j < w.length; j++) {
                w[j] = 5 + rng.nextInt(CFG.vocabSize() - 5);
            }
        }
        TrainingObjective.Batch batch = objective.batch(windows, rng);
        try (NDManager manager = NDManager.newBaseManager();
             LlamaNet net = LlamaNet.init(CFG, 11, manager)) {
            float[][] undisturbed = gradients(net, objective, batch, manager, false);
            float[][] collected = gradients(net, objective, batch, manager, true);
            for (int i = 0; i < undisturbed.length; i++) {
                int differing = 0;
                int nonFinite = 0;
                for (int j = 0; j < undisturbed[i].length; j++) {
                    // one thread, same inputs: bit for bit the same
                    differing += Float.compare(collected[i][j], undisturbed[i][j]) != 0 ? 1 : 0;
                    nonFinite += Float.isFinite(collected[i][j]) ? 0 : 1;
                }
                assertThat(differing).as("values of parameter %d's gradient (of %d) changed by a collection, %d of "
                        + "them not finite", i, undisturbed[i].length, nonFinite).isZero();
            }
        }
    }

    /** One forward and backward pass; with {@code collect}, garbage is collected and memory reused in between. */
    private static float[][] gradients(LlamaNet net, TrainingObjective objective, TrainingObjective.Batch batch,
                                       NDManager manager, boolean collect) {
        List<NDArray> params = net.parameters();
        try (NDManager scope = manager.newSubManager()) {
            List<ByteBuffer> reused = List.of();
            try (GradientCollector gc = Engine.getInstance().newGradientCollector()) {
                NDArray loss = objective.loss(net, scope, batch);
                if (collect) {
                    reused = collectAndReuseFreedMemory();
                }
                gc.backward(loss);
            }
            float[][] out = new float[params.size()][];
            for (int i = 0; i < out.length; i++) {
                NDArray g = params.get(i).getGradient();
                g.attach(scope);
                out[i] = g.toFloatArray();
                g.set(new NDIndex("..."), 0f);   // PyTorch accumulates: the next pass starts from zero
            }
            Reference.reachabilityFence(reused);
            return out;
        }
    }

    /**
     * Runs the collector (freeing the native memory of unreachable direct buffers), then allocates small direct
     * buffers full of NaN so that freed blocks are handed out again and overwritten, as later allocations in a
     * training run do. The buffers are returned to stay allocated until the backward pass has run.
     */
    private static List<ByteBuffer> collectAndReuseFreedMemory() {
        List<ByteBuffer> reused = new ArrayList<>();
        for (int round = 0; round < 3; round++) {
            System.gc();
            pauseForTheDeallocator();
            for (int i = 0; i < 4_000; i++) {
                ByteBuffer b = ByteBuffer.allocateDirect(4 << (i % 3)).order(ByteOrder.nativeOrder());
                while (b.remaining() >= 4) {
                    b.putFloat(Float.NaN);
                }
                reused.add(b);
            }
        }
        return reused;
    }

    /** Direct buffers are freed by the reference handler thread just after a collection: give it a moment. */
    private static void pauseForTheDeallocator() {
        try {
            Thread.sleep(20);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
