package dev.arbor.models.images;

import dev.arbor.api.ArborException;

import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.zip.GZIPInputStream;

/**
 * Fashion-MNIST (Zalando, MIT) as installed by the Debian package {@code dataset-fashion-mnist}: one split's images as
 * {@code float[784]} rows in [0,1] (row-major 28x28, pixel / 255) and labels 0-9.
 */
public final class FashionMnist {
    /** Where the Debian package installs the gzip'ed IDX files. */
    public static final Path DEFAULT_DIR = Path.of("/usr/share/datasets/fashion-mnist");
    /** System property (or, failing that, environment variable {@code ARBOR_FASHION_MNIST}) overriding {@link #DEFAULT_DIR}. */
    public static final String DIR_PROPERTY = "arbor.fashionMnist";
    public static final int SIDE = 28;
    public static final int PIXELS = SIDE * SIDE;
    /** Class names in label order (the dataset's own labels). */
    public static final List<String> CLASS_NAMES = List.of("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot");

    /** The two splits and their file-name prefixes. */
    public enum Split {
        TRAIN("train"), TEST("t10k");

        private final String prefix;

        Split(String prefix) {
            this.prefix = prefix;
        }
    }

    private static final int IMAGES_MAGIC = 0x00000803; // unsigned byte, 3 dimensions
    private static final int LABELS_MAGIC = 0x00000801; // unsigned byte, 1 dimension

    private final float[][] images;
    private final int[] labels;

    private FashionMnist(float[][] images, int[] labels) {
        this.images = images;
        this.labels = labels;
    }

    /** The directory holding the IDX files: the property, the environment variable, else {@link #DEFAULT_DIR}. */
    public static Path directory() {
        String dir = System.getProperty(DIR_PROPERTY);
        if (dir == null || dir.isBlank()) dir = System.getenv("ARBOR_FASHION_MNIST");
        return dir == null || dir.isBlank() ? DEFAULT_DIR : Path.of(dir);
    }

    /** True when both files of both splits exist in {@link #directory()}. */
    public static boolean installed() {
        Path dir = directory();
        for (Split s : Split.values()) {
            if (!Files.isRegularFile(imagesFile(dir, s)) || !Files.isRegularFile(labelsFile(dir, s))) return false;
        }
        return true;
    }

    /** One split from {@link #directory()}. */
    public static FashionMnist load(Split split) {
        return load(directory(), split);
    }

    /** One split from {@code dir}; ArborException (NOT_FOUND) naming the Debian package when a file is missing. */
    public static FashionMnist load(Path dir, Split split) {
        float[][] images = readImages(imagesFile(dir, split));
        int[] labels = readLabels(labelsFile(dir, split));
        if (images.length != labels.length) {
            throw ArborException.badModel("Fashion-MNIST " + split + " in " + dir + ": " + images.length
                    + " images but " + labels.length + " labels", null);
        }
        return new FashionMnist(images, labels);
    }

    public static Path imagesFile(Path dir, Split split) {
        return dir.resolve(split.prefix + "-images-idx3-ubyte.gz");
    }

    public static Path labelsFile(Path dir, Split split) {
        return dir.resolve(split.prefix + "-labels-idx1-ubyte.gz");
    }

    /** Reads a gzip'ed IDX3 unsigned-byte image file into rows of pixel / 255. */
    public static float[][] readImages(Path file) {
        try (DataInputStream in = open(file)) {
            int magic = in.readInt();
            if (magic != IMAGES_MAGIC) {
                throw ArborException.badModel(file + " is not an IDX image file (magic 0x"
                        + Integer.toHexString(magic) + ", expected 0x803)", null);
            }
            int n = in.readInt();
            int rows = in.readInt();
            int cols = in.readInt();
            if (n < 0 || rows != SIDE || cols != SIDE) {
                throw ArborException.badModel(file + ": " + n + " images of " + rows + "x" + cols
                        + ", expected 28x28", null);
            }
            byte[] buf = new byte[PIXELS];
            float[][] images = new float[n][];
            for (int i = 0; i < n; i++) {
                in.readFully(buf);
                float[] img = new float[PIXELS];
                for (int p = 0; p < PIXELS; p++) img[p] = (buf[p] & 0xFF) / 255f;
                images[i] = img;
            }
            return images;
        } catch (EOFException e) {
            throw ArborException.badModel(file + " is truncated", e);
        } catch (IOException e) {
            throw ArborException.badModel("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    /** Reads a gzip'ed IDX1 unsigned-byte label file; every label must be a class index 0-9. */
    public static int[] readLabels(Path file) {
        try (DataInputStream in = open(file)) {
            int magic = in.readInt();
            if (magic != LABELS_MAGIC) {
                throw ArborException.badModel(file + " is not an IDX label file (magic 0x"
                        + Integer.toHexString(magic) + ", expected 0x801)", null);
            }
            int n = in.readInt();
            if (n < 0) throw ArborException.badModel(file + ": negative label count " + n, null);
            byte[] buf = new byte[n];
            in.readFully(buf);
            int[] labels = new int[n];
            for (int i = 0; i < n; i++) {
                labels[i] = buf[i] & 0xFF;
                if (labels[i] >= CLASS_NAMES.size()) {
                    throw ArborException.badModel(file + ": label " + labels[i] + " at " + i + " is not 0-9", null);
                }
            }
            return labels;
        } catch (EOFException e) {
            throw ArborException.badModel(file + " is truncated", e);
        } catch (IOException e) {
            throw ArborException.badModel("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    private static DataInputStream open(Path file) throws IOException {
        InputStream raw;
        try {
            raw = Files.newInputStream(file);
        } catch (NoSuchFileException e) {
            throw new ArborException(ArborException.Kind.NOT_FOUND, "Fashion-MNIST file " + file
                    + " not found: install Debian package dataset-fashion-mnist (apt-get install dataset-fashion-mnist)"
                    + " or point -D" + DIR_PROPERTY + " / ARBOR_FASHION_MNIST at a folder holding the IDX .gz files", e);
        }
        try {
            return new DataInputStream(new BufferedInputStream(new GZIPInputStream(raw, 1 << 16), 1 << 16));
        } catch (IOException e) {
            raw.close();
            throw e;
        }
    }

    /**
     * The class index of {@code nameOrIndex}: a digit 0-9, or a class name compared case-insensitively ignoring
     * everything but letters ("sneaker", "Ankle boot", "ankle-boot", "t-shirt" and "top" for T-shirt/top).
     */
    public static int classIndex(String nameOrIndex) {
        if (nameOrIndex == null || nameOrIndex.isBlank()) throw ArborException.invalid("empty Fashion-MNIST class");
        String s = nameOrIndex.strip();
        if (s.chars().allMatch(Character::isDigit)) {
            int k = s.length() > 2 ? -1 : Integer.parseInt(s);
            if (k >= 0 && k < CLASS_NAMES.size()) return k;
            throw ArborException.invalid("Fashion-MNIST class index " + s + " is not 0-9");
        }
        String key = letters(s);
        for (int k = 0; k < CLASS_NAMES.size(); k++) {
            String name = CLASS_NAMES.get(k);
            if (letters(name).equals(key)) return k;
            for (String part : name.split("/")) {
                if (letters(part).equals(key)) return k;
            }
        }
        throw ArborException.invalid("unknown Fashion-MNIST class '" + nameOrIndex + "': use 0-9 or one of "
                + String.join(", ", CLASS_NAMES));
    }

    /** The name of class {@code k} (0-9). */
    public static String className(int k) {
        if (k < 0 || k >= CLASS_NAMES.size()) throw ArborException.invalid("Fashion-MNIST class index " + k + " is not 0-9");
        return CLASS_NAMES.get(k);
    }

    private static String letters(String s) {
        return s.toLowerCase(Locale.ROOT).replaceAll("[^a-z]", "");
    }

    public int size() {
        return labels.length;
    }

    /** Image {@code i} (the stored array: do not modify). */
    public float[] image(int i) {
        return images[i];
    }

    public int label(int i) {
        return labels[i];
    }

    /** All images (the stored arrays: do not modify). */
    public float[][] images() {
        return images;
    }

    /** All labels (a copy). */
    public int[] labels() {
        return labels.clone();
    }
}
