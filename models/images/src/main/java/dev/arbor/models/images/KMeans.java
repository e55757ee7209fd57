package dev.arbor.models.images;

import java.util.SplittableRandom;
import java.util.stream.IntStream;

/**
 * Plain-Java k-means for VQ codebooks: seeded k-means++ initialisation and Lloyd iterations (assignments computed in
 * parallel; every result is independent of the thread count, since each point's nearest code is a pure function and
 * the sums are accumulated sequentially).
 */
public final class KMeans {
    private KMeans() {
    }

    /** k-means++ seeding (Arthur and Vassilvitskii) over {@code data}, then {@code iterations} Lloyd steps. */
    public static float[][] train(float[][] data, int k, long seed, int iterations) {
        return lloyd(data, kMeansPlusPlus(data, k, seed), iterations);
    }

    /** k-means++: the first centre uniformly, each next one with probability proportional to squared distance. */
    public static float[][] kMeansPlusPlus(float[][] data, int k, long seed) {
        if (data.length < k) {
            throw dev.arbor.api.ArborException.invalid("k-means needs at least k=" + k + " points, got " + data.length);
        }
        SplittableRandom rnd = new SplittableRandom(seed);
        float[][] centres = new float[k][];
        centres[0] = data[rnd.nextInt(data.length)].clone();
        double[] d2 = new double[data.length];
        java.util.Arrays.fill(d2, Double.POSITIVE_INFINITY);
        for (int j = 1; j < k; j++) {
            float[] last = centres[j - 1];
            IntStream.range(0, data.length).parallel().forEach(i -> d2[i] = Math.min(d2[i], sq(data[i], last)));
            double total = 0;
            for (double v : d2) total += v;
            int pick;
            if (total <= 0) {
                pick = rnd.nextInt(data.length); // all points coincide with centres: any point will do
            } else {
                double u = rnd.nextDouble() * total;
                pick = data.length - 1;
                for (int i = 0; i < data.length; i++) {
                    u -= d2[i];
                    if (u < 0) {
                        pick = i;
                        break;
                    }
                }
            }
            centres[j] = data[pick].clone();
        }
        return centres;
    }

    /** Lloyd steps from {@code centres} (not modified); an emptied cluster keeps its previous centre. */
    public static float[][] lloyd(float[][] data, float[][] centres, int iterations) {
        int k = centres.length;
        int dim = centres[0].length;
        float[][] c = new float[k][];
        for (int j = 0; j < k; j++) c[j] = centres[j].clone();
        int[] assign = new int[data.length];
        for (int it = 0; it < iterations; it++) {
            float[][] cur = c;
            float[] norms = norms(cur);
            IntStream.range(0, data.length).parallel().forEach(i -> assign[i] = nearest(cur, norms, data[i], 0));
            double[][] sum = new double[k][dim];
            int[] count = new int[k];
            for (int i = 0; i < data.length; i++) {
                int a = assign[i];
                count[a]++;
                float[] x = data[i];
                double[] s = sum[a];
                for (int d = 0; d < dim; d++) s[d] += x[d];
            }
            float[][] next = new float[k][];
            for (int j = 0; j < k; j++) {
                if (count[j] == 0) {
                    next[j] = cur[j];
                    continue;
                }
                next[j] = new float[dim];
                for (int d = 0; d < dim; d++) next[j][d] = (float) (sum[j][d] / count[j]);
            }
            c = next;
        }
        return c;
    }

    /** Squared norms of the codes, for {@link #nearest}. */
    public static float[] norms(float[][] codebook) {
        float[] n = new float[codebook.length];
        for (int j = 0; j < codebook.length; j++) {
            float s = 0;
            for (float v : codebook[j]) s += v * v;
            n[j] = s;
        }
        return n;
    }

    /**
     * Index of the code nearest (squared Euclidean) to {@code x[off .. off+dim)}, ties to the lower index, computed as
     * argmin ||c||² − 2 x·c (the ||x||² term is common to all codes).
     */
    public static int nearest(float[][] codebook, float[] norms, float[] x, int off) {
        int best = 0;
        float bestD = Float.POSITIVE_INFINITY;
        int dim = codebook[0].length;
        for (int j = 0; j < codebook.length; j++) {
            float[] c = codebook[j];
            float dot = 0;
            for (int d = 0; d < dim; d++) dot += x[off + d] * c[d];
            float dist = norms[j] - 2 * dot;
            if (dist < bestD) {
                bestD = dist;
                best = j;
            }
        }
        return best;
    }

    static double sq(float[] a, float[] b) {
        double s = 0;
        for (int d = 0; d < a.length; d++) {
            double t = a[d] - b[d];
            s += t * t;
        }
        return s;
    }
}
