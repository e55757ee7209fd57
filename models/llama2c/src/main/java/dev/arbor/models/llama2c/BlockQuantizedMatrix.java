package dev.arbor.models.llama2c;

/**
 * A weight matrix W [n, k] (row-major: row j holds output j's k input weights, llama2.c's layout) quantized
 * block-wise along k into the exact layout of ONNX Runtime's {@code com.microsoft.MatMulNBits}, which computes
 * {@code Y = A W^T}:
 * <ul>
 *   <li>{@link #packed()}: uint8 [n, blocks, blockSize * bits / 8], codes packed low bits first (4 bits: element
 *       2i in the low nibble of byte i, 2i+1 in the high nibble);</li>
 *   <li>{@link #scales()}: float [n * blocks], block b of row j at {@code j * blocks + b};</li>
 *   <li>symmetric (the default): no zero points, so MatMulNBits' default zero point {@code 2^(bits-1)} applies
 *       and a weight dequantizes to {@code (code - 2^(bits-1)) * scale}; asymmetric: {@link #zeroPoints()} uint8
 *       [n * ceil(blocks * bits / 8)], packed like B (4 bits: block 2i low nibble, 2i+1 high), each row padded to
 *       a whole byte.</li>
 * </ul>
 * Symmetric: each block's scale maps its largest-magnitude weight exactly onto the code {@code -2^(bits-1)} (as ONNX Runtime's
 * own symmetric block quantizer does), so the full signed range is used; a weight of opposite sign and equal
 * magnitude is clipped by one step. When k is not a multiple of the block size the last block is padded with the
 * code for 0, which MatMulNBits ignores (it reads only k values per row).
 */
final class BlockQuantizedMatrix {
    private final int n;
    private final int k;
    private final int bits;
    private final int blockSize;
    private final int blocks;
    private final byte[] packed;
    private final float[] scales;
    private final byte[] zeroPoints;

    private BlockQuantizedMatrix(int n, int k, int bits, int blockSize, boolean asymmetric) {
        if (bits != 4 && bits != 8) {
            throw new IllegalArgumentException("MatMulNBits weights are 4 or 8 bits here, got " + bits);
        }
        if (blockSize < 16 || Integer.bitCount(blockSize) != 1) {
            throw new IllegalArgumentException("MatMulNBits needs a power-of-two block size >= 16, got " + blockSize);
        }
        this.n = n;
        this.k = k;
        this.bits = bits;
        this.blockSize = blockSize;
        this.blocks = (k + blockSize - 1) / blockSize;
        this.packed = new byte[n * blocks * blobSize()];
        this.scales = new float[n * blocks];
        this.zeroPoints = asymmetric ? new byte[n * zeroPointBytesPerRow()] : null;
    }

    /** Quantizes {@code w} [n, k] row-major symmetrically (no zero points). */
    static BlockQuantizedMatrix quantize(float[] w, int n, int k, int bits, int blockSize) {
        return quantize(w, n, k, bits, blockSize, false);
    }

    /**
     * Quantizes {@code w} [n, k] row-major; {@code asymmetric} spreads each block's codes over [min(w, 0),
     * max(w, 0)] with a per-block zero point (so zero stays exact) instead of a range symmetric around zero.
     */
    static BlockQuantizedMatrix quantize(float[] w, int n, int k, int bits, int blockSize, boolean asymmetric) {
        if (w.length != n * k) {
            throw new IllegalArgumentException("weight has " + w.length + " values, not " + n + " x " + k);
        }
        BlockQuantizedMatrix q = new BlockQuantizedMatrix(n, k, bits, blockSize, asymmetric);
        if (asymmetric) {
            q.fillAsymmetric(w);
            return q;
        }
        int zero = 1 << (bits - 1);
        int maxCode = (1 << bits) - 1;
        for (int row = 0; row < n; row++) {
            for (int b = 0; b < q.blocks; b++) {
                int from = b * blockSize;
                int to = Math.min(k, from + blockSize);
                float extreme = 0;
                for (int i = from; i < to; i++) {
                    float v = w[row * k + i];
                    if (Math.abs(v) > Math.abs(extreme)) {
                        extreme = v;
                    }
                }
                // The extreme maps to code 0 (= -2^(bits-1) after the zero point): scale = extreme / -2^(bits-1).
                float scale = extreme / -zero;
                float inv = scale == 0 ? 0 : 1 / scale;
                q.scales[row * q.blocks + b] = scale;
                int blob = (row * q.blocks + b) * q.blobSize();
                for (int i = 0; i < blockSize; i++) {
                    int code = zero;
                    if (from + i < to) {
                        code = Math.max(0, Math.min(maxCode, Math.round(w[row * k + from + i] * inv) + zero));
                    }
                    if (bits == 8) {
                        q.packed[blob + i] = (byte) code;
                    } else {
                        q.packed[blob + i / 2] |= (byte) (i % 2 == 0 ? code : code << 4);
                    }
                }
            }
        }
        return q;
    }

    private void fillAsymmetric(float[] w) {
        int maxCode = (1 << bits) - 1;
        for (int row = 0; row < n; row++) {
            for (int b = 0; b < blocks; b++) {
                int from = b * blockSize;
                int to = Math.min(k, from + blockSize);
                float min = 0;
                float max = 0;
                for (int i = from; i < to; i++) {
                    min = Math.min(min, w[row * k + i]);
                    max = Math.max(max, w[row * k + i]);
                }
                float scale = (max - min) / maxCode;
                float inv = scale == 0 ? 0 : 1 / scale;
                int zero = Math.max(0, Math.min(maxCode, Math.round(-min * inv)));
                scales[row * blocks + b] = scale;
                int zpByte = row * zeroPointBytesPerRow() + b * bits / 8;
                zeroPoints[zpByte] |= (byte) (bits == 8 || b % 2 == 0 ? zero : zero << 4);
                int blob = (row * blocks + b) * blobSize();
                for (int i = 0; i < blockSize; i++) {
                    int code = zero;
                    if (from + i < to) {
                        code = Math.max(0, Math.min(maxCode, Math.round(w[row * k + from + i] * inv) + zero));
                    }
                    if (bits == 8) {
                        packed[blob + i] = (byte) code;
                    } else {
                        packed[blob + i / 2] |= (byte) (i % 2 == 0 ? code : code << 4);
                    }
                }
            }
        }
    }

    /** The zero point of block {@code b} of row {@code row}: stored, or 2^(bits-1) when symmetric. */
    private int zeroPoint(int row, int b) {
        if (zeroPoints == null) {
            return 1 << (bits - 1);
        }
        int v = zeroPoints[row * zeroPointBytesPerRow() + b * bits / 8] & 0xff;
        return bits == 8 ? v : (v >> (b % 2 == 0 ? 0 : 4)) & 0xf;
    }

    /** Bytes of packed zero points per row: ceil(blocks * bits / 8) (MatMulNBits pads each row to a byte). */
    int zeroPointBytesPerRow() {
        return (blocks * bits + 7) / 8;
    }

    /** Packed uint8 zero points [n * zeroPointBytesPerRow()], or null when symmetric. */
    byte[] zeroPoints() {
        return zeroPoints;
    }

    /** The weights as MatMulNBits will see them, [n, k] row-major (for tests and quality checks). */
    float[] dequantize() {
        float[] out = new float[n * k];
        for (int row = 0; row < n; row++) {
            for (int i = 0; i < k; i++) {
                int b = i / blockSize;
                int inBlock = i % blockSize;
                int blob = (row * blocks + b) * blobSize();
                int code = bits == 8 ? packed[blob + inBlock] & 0xff
                        : (packed[blob + inBlock / 2] >> (inBlock % 2 == 0 ? 0 : 4)) & 0xf;
                out[row * k + i] = (code - zeroPoint(row, b)) * scales[row * blocks + b];
            }
        }
        return out;
    }

    int n() {
        return n;
    }

    int k() {
        return k;
    }

    int bits() {
        return bits;
    }

    int blockSize() {
        return blockSize;
    }

    int blocks() {
        return blocks;
    }

    int blobSize() {
        return blockSize * bits / 8;
    }

    byte[] packed() {
        return packed;
    }

    float[] scales() {
        return scales;
    }
}
