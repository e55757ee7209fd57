package dev.arbor.watermark.greenlist.internal;

/**
 * PyTorch's CPU {@code torch.Generator}, as far as Hugging Face's watermark uses it: {@code manual_seed} and
 * {@code torch.randperm(n, generator=...)}, bit for bit, so that green lists equal Hugging Face's for the same key.
 *
 * <p>Sources (PyTorch {@code aten/src/ATen/core/MT19937RNGEngine.h}, {@code CPUGeneratorImpl.cpp},
 * {@code native/TensorFactories.cpp}): {@code manual_seed(s)} builds {@code mt19937(s)}, whose
 * {@code init_with_uint32} keeps {@code s & 0xffffffff} and runs the reference MT19937 initialisation
 * ({@code state[j] = 1812433253 * (state[j-1] ^ (state[j-1] >> 30)) + j}); {@code random()} is one 32-bit MT19937
 * output; {@code randperm_cpu} fills {@code 0..n-1} and, for {@code i} in {@code 0..n-2}, swaps element {@code i}
 * with element {@code i + random() % (n - i)} (the path PyTorch takes for every n below 2^32/20).
 */
final class TorchGenerator {
    private static final int N = 624;
    private static final int M = 397;
    private static final int MATRIX_A = 0x9908b0df;
    private static final int UPPER = 0x80000000;
    private static final int LOWER = 0x7fffffff;

    private final int[] state = new int[N];
    private int left;
    private int next;

    /** {@code torch.Generator().manual_seed(seed)}, seed read as an unsigned 64-bit value. */
    TorchGenerator(long seed) {
        state[0] = (int) seed;
        for (int j = 1; j < N; j++) {
            state[j] = 1812433253 * (state[j - 1] ^ (state[j - 1] >>> 30)) + j;
        }
        left = 1;
        next = 0;
    }

    /** One MT19937 output, as an unsigned 32-bit value in a long. */
    long random() {
        if (--left == 0) {
            nextState();
        }
        int y = state[next++];
        y ^= y >>> 11;
        y ^= (y << 7) & 0x9d2c5680;
        y ^= (y << 15) & 0xefc60000;
        y ^= y >>> 18;
        return y & 0xffffffffL;
    }

    /** {@code torch.randperm(n, generator=this)} on the CPU. */
    int[] randperm(int n) {
        int[] r = new int[n];
        for (int i = 0; i < n; i++) {
            r[i] = i;
        }
        for (int i = 0; i < n - 1; i++) {
            int z = (int) (random() % (n - i));
            int saved = r[i];
            r[i] = r[z + i];
            r[z + i] = saved;
        }
        return r;
    }

    private void nextState() {
        left = N;
        next = 0;
        int p = 0;
        for (int j = N - M + 1; --j > 0; p++) {
            state[p] = state[p + M] ^ twist(state[p], state[p + 1]);
        }
        for (int j = M; --j > 0; p++) {
            state[p] = state[p + M - N] ^ twist(state[p], state[p + 1]);
        }
        state[p] = state[p + M - N] ^ twist(state[p], state[0]);
    }

    private static int twist(int u, int v) {
        return (((u & UPPER) | (v & LOWER)) >>> 1) ^ ((v & 1) != 0 ? MATRIX_A : 0);
    }
}
