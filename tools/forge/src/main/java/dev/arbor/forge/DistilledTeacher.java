package dev.arbor.forge;

import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.generation.distilled.FlowMap;
import dev.arbor.models.llama2c.Llama2cReferenceModel;
import java.util.Arrays;

/**
 * Distilled Decoding's teacher (Liu et al. 2024, METHODS.md §3.17) as the forge runs it to make training pairs: the
 * raster AR prior decodes an image token by token exactly as the {@code fashion-ar-flowmap} pipeline does
 * (classifier-free guidance in LlamaGen's form {@code u + s·(c − u)} over the codes, temperature, top-k, then top-p,
 * the order of the pipeline's processors), but each token is chosen by the {@link FlowMap} from that position's
 * noise {@code ε_i} instead of a random draw: {@code (class, ε_0..ε_{n−1}) ↦ tokens} is deterministic and its law is
 * the pipeline's. The prior runs on {@link Llama2cReferenceModel} with a KV cache (one conditional and one
 * unconditional row), the file the pipelines load.
 */
final class DistilledTeacher {
    private final Llama2cReferenceModel model;
    private final ImageLayout layout;
    private final FlowMap flow;
    private final double guidance;
    private final double temperature;
    private final int topK;
    private final double topP;

    DistilledTeacher(Llama2cReferenceModel model, ImageLayout layout, FlowMap flow, double guidance,
                     double temperature, int topK, double topP) {
        if (flow.size() != layout.codes()) {
            throw new IllegalArgumentException("the flow map has " + flow.size() + " code vectors, the layout "
                    + layout.codes() + " codes");
        }
        this.model = model;
        this.layout = layout;
        this.flow = flow;
        this.guidance = guidance;
        this.temperature = temperature;
        this.topK = topK;
        this.topP = topP;
    }

    /** The image tokens of class {@code cls} for the noise {@code eps} [tokensPerImage][featureDim]. */
    int[] tokens(int cls, double[][] eps) {
        int n = layout.tokensPerImage();
        boolean guided = guidance != 1;
        int[] out = new int[n];
        try (DecodeState state = model.newState(guided ? 2 : 1)) {
            int[][] in = guided ? new int[][] {{layout.classToken(cls)}, {layout.nullClassToken()}}
                    : new int[][] {{layout.classToken(cls)}};
            for (int i = 0; i < n; i++) {
                float[][][] logits = model.forward(ForwardRequest.next(in, state)).logits();
                float[] row = processed(logits[0][0], guided ? logits[1][0] : null);
                out[i] = flow.map(row, eps[i]);
                for (int[] r : in) {
                    r[0] = out[i];
                }
            }
        }
        return out;
    }

    /** The code logits after guidance, temperature, top-k and top-p (the fashion-ar pipeline's chain). */
    float[] processed(float[] cond, float[] uncond) {
        int codes = layout.codes();
        float[] l = new float[codes];
        for (int k = 0; k < codes; k++) {
            double v = uncond == null ? cond[k] : uncond[k] + guidance * (cond[k] - uncond[k]);
            l[k] = (float) (v / temperature);
        }
        if (topK > 0 && topK < codes) {
            float[] sorted = l.clone();
            Arrays.sort(sorted);
            float threshold = sorted[codes - topK];
            for (int k = 0; k < codes; k++) {
                if (l[k] < threshold) {
                    l[k] = Float.NEGATIVE_INFINITY;
                }
            }
        }
        if (topP < 1) {
            Integer[] order = new Integer[codes];
            for (int k = 0; k < codes; k++) {
                order[k] = k;
            }
            Arrays.sort(order, (a, b) -> Float.compare(l[b], l[a]));
            double max = l[order[0]];
            double sum = 0;
            double[] w = new double[codes];
            for (int r = 0; r < codes; r++) {
                w[r] = Math.exp(l[order[r]] - max);
                sum += w[r];
            }
            double exclusive = 0;
            for (int r = 0; r < codes; r++) {
                if (r >= 1 && exclusive / sum > topP) {
                    for (int s = r; s < codes; s++) {
                        l[order[s]] = Float.NEGATIVE_INFINITY;
                    }
                    break;
                }
                exclusive += w[r];
            }
        }
        return l;
    }
}
