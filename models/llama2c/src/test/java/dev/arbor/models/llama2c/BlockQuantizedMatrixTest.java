package dev.arbor.models.llama2c;

import static org.assertj.core.api.Assertions.assertThat;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The packed weights are exactly what ONNX Runtime's MatMulNBits reads: its product (fp32 compute,
 * accuracy_level 0) equals A times the Java-side dequantized weights, including a K that is not a multiple of the
 * block size; and the quantization error of each weight stays within one step of its block's scale.
 */
class BlockQuantizedMatrixTest {
    private static final int N = 6;
    private static final int K = 40;
    private static final int ROWS = 3;

    @ParameterizedTest(name = "bits {0}, block {1}, asymmetric {2}")
    @CsvSource({"4, 16, false", "4, 32, false", "8, 16, false", "8, 32, false", "4, 16, true", "4, 32, true",
            "8, 32, true"})
    void matMulNBitsComputesWithTheJavaDequantizedWeights(int bits, int blockSize, boolean asymmetric)
            throws OrtException {
        Random random = new Random(bits * 100 + blockSize + (asymmetric ? 7 : 0));
        float[] w = new float[N * K];
        for (int i = 0; i < w.length; i++) {
            // a shifted, uneven distribution, so asymmetric ranges and one-sided blocks occur
            w[i] = (float) (random.nextGaussian() * 0.1 + (i % 7 == 0 ? 0.2 : 0));
        }
        float[] a = new float[ROWS * K];
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) random.nextGaussian();
        }
        BlockQuantizedMatrix q = BlockQuantizedMatrix.quantize(w, N, K, bits, blockSize, asymmetric);
        float[] deq = q.dequantize();
        for (int row = 0; row < N; row++) {
            for (int i = 0; i < K; i++) {
                float scale = Math.abs(q.scales()[row * q.blocks() + i / blockSize]);
                assertThat(Math.abs(deq[row * K + i] - w[row * K + i])).as("weight %d,%d", row, i)
                        .isLessThanOrEqualTo(scale * 1.0001f);
            }
        }
        assertThat(maxDiffToUnquantized(deq, w)).as("the quantization is not the identity").isGreaterThan(0f);

        OnnxGraphBuilder g = new OnnxGraphBuilder();
        g.input("A", TensorProto.DataType.FLOAT, ROWS, K);
        g.output("Y", ROWS, N);
        g.bytes("B", q.packed(), N, q.blocks(), q.blobSize());
        g.floats("scales", q.scales(), (long) N * q.blocks());
        List<String> inputs = new ArrayList<>(List.of("A", "B", "scales"));
        if (asymmetric) {
            g.bytes("zero_points", q.zeroPoints(), q.zeroPoints().length);
            inputs.add("zero_points");
        }
        g.nodeIn(OnnxGraphBuilder.MS_DOMAIN, "MatMulNBits", inputs, List.of("Y"), OnnxGraphBuilder.intAttr("K", K),
                OnnxGraphBuilder.intAttr("N", N), OnnxGraphBuilder.intAttr("bits", bits),
                OnnxGraphBuilder.intAttr("block_size", blockSize), OnnxGraphBuilder.intAttr("accuracy_level", 0));
        ModelProto model = ModelProto.newBuilder().setIrVersion(8)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(17))
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain(OnnxGraphBuilder.MS_DOMAIN).setVersion(1))
                .setGraph(g.finish("matmulnbits")).build();
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession s = env.createSession(model.toByteArray(), new OrtSession.SessionOptions());
             OnnxTensor in = OnnxTensor.createTensor(env, FloatBuffer.wrap(a), new long[] {ROWS, K});
             OrtSession.Result r = s.run(Map.of("A", in))) {
            float[][] y = (float[][]) r.get(0).getValue();
            for (int m = 0; m < ROWS; m++) {
                for (int n = 0; n < N; n++) {
                    double expected = 0;
                    for (int k = 0; k < K; k++) {
                        expected += a[m * K + k] * deq[n * K + k];
                    }
                    assertThat((double) y[m][n]).as("Y[%d][%d]", m, n).isCloseTo(expected,
                            org.assertj.core.data.Offset.offset(1e-4));
                }
            }
        }
    }

    private static float maxDiffToUnquantized(float[] a, float[] b) {
        float m = 0;
        for (int i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs(a[i] - b[i]));
        }
        return m;
    }
}
