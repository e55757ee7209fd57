package dev.arbor.forge;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Blocks;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.Dropout;
import ai.djl.nn.pooling.Pool;
import ai.djl.training.ParameterStore;
import dev.arbor.api.ArborException;
import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The Fashion-MNIST classifier the image metrics judge generated images with (class accuracy, and the Fréchet
 * distance on its {@value #FEATURES}-wide penultimate layer). A small CNN: conv3x3 32, ReLU, maxpool 2 → conv3x3 64,
 * ReLU, maxpool 2 → dropout 0.25 → dense 128, ReLU (the features) → dropout 0.5 → dense 10. Images are 784 floats in
 * [0, 1], row-major 28x28, as Fashion-MNIST stores them (pixel / 255). Trained by {@link FashionJudgeTraining};
 * the committed weights are models/trained/fashion-judge/fashion-judge.params (DJL's parameter format).
 * Not thread-safe: one instance per thread, closed after use.
 */
public final class FashionJudge implements AutoCloseable {
    /** Width of the feature layer. */
    public static final int FEATURES = 128;
    /** Pixels per image (28 x 28). */
    public static final int PIXELS = 784;
    /** Number of classes. */
    public static final int CLASSES = 10;
    /** The committed weights, relative to the repository root. */
    public static final Path COMMITTED = Path.of("models", "trained", "fashion-judge", "fashion-judge.params");

    private static final int BATCH = 500;

    private final NDManager manager;
    private final SequentialBlock features;
    private final SequentialBlock net;

    private FashionJudge(NDManager manager, SequentialBlock net) {
        this.manager = manager;
        this.net = net;
        this.features = (SequentialBlock) net.getChildren().get(0).getValue();
    }

    /** The untrained network: the feature extractor (child 0) followed by the head (child 1). */
    static SequentialBlock network() {
        SequentialBlock features = new SequentialBlock()
                .add(Conv2d.builder().setKernelShape(new Shape(3, 3)).optPadding(new Shape(1, 1)).setFilters(32)
                        .build())
                .add(Activation.reluBlock())
                .add(Pool.maxPool2dBlock(new Shape(2, 2), new Shape(2, 2)))
                .add(Conv2d.builder().setKernelShape(new Shape(3, 3)).optPadding(new Shape(1, 1)).setFilters(64)
                        .build())
                .add(Activation.reluBlock())
                .add(Pool.maxPool2dBlock(new Shape(2, 2), new Shape(2, 2)))
                .add(Dropout.builder().optRate(0.25f).build())
                .add(Blocks.batchFlattenBlock())
                .add(Linear.builder().setUnits(FEATURES).build())
                .add(Activation.reluBlock());
        SequentialBlock head = new SequentialBlock()
                .add(Dropout.builder().optRate(0.5f).build())
                .add(Linear.builder().setUnits(CLASSES).build());
        return new SequentialBlock().add(features).add(head);
    }

    /** Input shape of a batch of {@code n} images. */
    static Shape inputShape(long n) {
        return new Shape(n, 1, 28, 28);
    }

    /**
     * Loads weights written by {@link FashionJudgeTraining}; starts DJL's PyTorch engine offline if needed.
     * {@code threads} null keeps PyTorch's default.
     */
    public static FashionJudge load(Path params, Integer threads) {
        if (!Files.isRegularFile(params)) {
            throw new ArborException(ArborException.Kind.NOT_FOUND, "Fashion-MNIST judge weights not found: " + params.toAbsolutePath()
                    + " (committed as " + COMMITTED + "; train new ones with `arbor forge judge`)");
        }
        DjlSetup.configure(threads);
        NDManager manager = NDManager.newBaseManager();
        SequentialBlock net = network();
        net.initialize(manager, DataType.FLOAT32, inputShape(1));
        try (InputStream in = new BufferedInputStream(Files.newInputStream(params))) {
            net.loadParameters(manager, new DataInputStream(in));
        } catch (IOException | ai.djl.MalformedModelException e) {
            manager.close();
            throw new ArborException(ArborException.Kind.BAD_MODEL, "cannot read Fashion-MNIST judge weights " + params + ": " + e.getMessage(), e);
        }
        return new FashionJudge(manager, net);
    }

    /** Number of trained values (weights and biases). */
    public long parameterCount() {
        return net.getParameters().values().stream().mapToLong(p -> p.getArray().size()).sum();
    }

    /** The class id (0-9) of each image. */
    public int[] predict(float[][] images) {
        int[] out = new int[images.length];
        forEachBatch(images, net, (from, logits) -> {
            long[] ids = logits.argMax(1).toType(DataType.INT64, false).toLongArray();
            for (int i = 0; i < ids.length; i++) {
                out[from + i] = (int) ids[i];
            }
        });
        return out;
    }

    /** The penultimate-layer activations (after ReLU), {@value #FEATURES} per image. */
    public float[][] features(float[][] images) {
        float[][] out = new float[images.length][];
        forEachBatch(images, features, (from, f) -> {
            float[] flat = f.toFloatArray();
            for (int i = 0; i < f.getShape().get(0); i++) {
                out[from + i] = java.util.Arrays.copyOfRange(flat, i * FEATURES, (i + 1) * FEATURES);
            }
        });
        return out;
    }

    /** Fraction of images whose predicted class equals the label. */
    public double accuracy(float[][] images, int[] labels) {
        if (images.length != labels.length) {
            throw ArborException.invalid("accuracy needs one label per image: " + images.length + " images, "
                    + labels.length + " labels");
        }
        if (images.length == 0) {
            throw ArborException.invalid("accuracy of an empty image set is undefined");
        }
        int[] predicted = predict(images);
        int right = 0;
        for (int i = 0; i < labels.length; i++) {
            right += predicted[i] == labels[i] ? 1 : 0;
        }
        return (double) right / labels.length;
    }

    private interface BatchSink {
        void accept(int from, NDArray output);
    }

    private void forEachBatch(float[][] images, SequentialBlock block, BatchSink sink) {
        for (int from = 0; from < images.length; from += BATCH) {
            int n = Math.min(BATCH, images.length - from);
            try (NDManager scope = manager.newSubManager()) {
                NDArray x = scope.create(pack(images, from, n), inputShape(n));
                // training=false: dropout is the identity, as at evaluation time.
                NDList y = block.forward(new ParameterStore(scope, false), new NDList(x), false);
                sink.accept(from, y.singletonOrThrow());
            }
        }
    }

    static float[] pack(float[][] images, int from, int n) {
        float[] flat = new float[n * PIXELS];
        for (int i = 0; i < n; i++) {
            float[] img = images[from + i];
            if (img == null || img.length != PIXELS) {
                throw ArborException.invalid("image " + (from + i) + " has " + (img == null ? 0 : img.length)
                        + " values; the Fashion-MNIST judge takes 28x28 = 784 floats in [0, 1]");
            }
            System.arraycopy(img, 0, flat, i * PIXELS, PIXELS);
        }
        return flat;
    }

    @Override
    public void close() {
        manager.close();
    }
}
