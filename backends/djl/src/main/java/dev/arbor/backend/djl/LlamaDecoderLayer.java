package dev.arbor.backend.djl;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

/**
 * One llama transformer block as a DJL block, computing llama2.c run.c's layer (Karpathy, llama2.c; Touvron et al.
 * 2023, "LLaMA"): RMSNorm (Zhang and Sennrich 2019), rotary position embedding (Su et al. 2021, RoFormer) on
 * interleaved pairs, grouped-query attention (Ainslie et al. 2023) with an additive mask, SwiGLU feed-forward
 * (Shazeer 2020). Weights come pre-arranged from {@link LlamaWeights}.
 *
 * <p>Inputs: {@code x [B,T,dim]}, {@code cos, sin [B,T,dim+kvDim]} (rotary tables gathered at each token's
 * position), {@code bias [B,1,1,T,P+T]} ({@code [B,1,1,P+1]} when T = 1; 0 = visible, -1e9 = hidden),
 * {@code pastK, pastV [B,kvHeads,P,headSize]}.
 * Outputs: {@code x [B,T,dim]} and the full {@code K, V [B,kvHeads,P+T,headSize]} (keys after rotation, as run.c's
 * key cache). Every intermediate belongs to the manager of {@code x}, so the caller frees a step by closing it.
 */
final class LlamaDecoderLayer extends AbstractBlock {
    private static final float RMS_EPS = 1e-5f; // run.c

    private final int dim;
    private final int kvDim;
    private final int hidden;
    private final int kvHeads;
    private final int groups;
    private final int headSize;
    private final Parameter qkv;
    private final Parameter wo;
    private final Parameter w13;
    private final Parameter w2;
    /** Where the fused projection splits: q|k (to rotate) | v | rotated q|k. One native split, not three gathers. */
    private final long[] qkvSplit;
    /** Where rotated q|k splits into q | k. */
    private final long[] qkSplit;
    /** Where the fused SwiGLU projection splits into gate | up. */
    private final long[] gateUpSplit;
    /** RMSNorm's epsilon as a native scalar: adding a Java number would create and free a tensor per call. */
    private final NDArray eps;

    LlamaDecoderLayer(LlamaWeights w, int layer, NDManager manager) {
        this.dim = w.dim;
        this.kvDim = w.kvDim;
        this.hidden = w.hidden;
        this.kvHeads = w.config.nKvHeads();
        this.groups = w.config.kvMul();
        this.headSize = w.config.headSize();
        this.qkv = addParameter(weight("qkv", manager.create(w.qkv[layer], new Shape(dim, w.fusedWidth))));
        this.wo = addParameter(weight("wo", manager.create(w.wo[layer], new Shape(dim, dim))));
        this.w13 = addParameter(weight("w13", manager.create(w.w13[layer], new Shape(dim, 2L * hidden))));
        this.w2 = addParameter(weight("w2", manager.create(w.w2[layer], new Shape(hidden, dim))));
        int qk = dim + kvDim;
        this.qkvSplit = new long[] {qk, qk + kvDim};
        this.qkSplit = new long[] {dim};
        this.gateUpSplit = new long[] {hidden};
        this.eps = epsilon(manager);
    }

    /** RMSNorm's epsilon as a scalar tensor of {@code manager} (lives and dies with the weights). */
    static NDArray epsilon(NDManager manager) {
        NDArray e = manager.create(RMS_EPS);
        e.setName("rms_eps");
        return e;
    }

    static Parameter weight(String name, NDArray array) {
        array.setName(name);
        return Parameter.builder().setName(name).setType(Parameter.Type.WEIGHT).optArray(array)
                .optRequiresGrad(false).build();
    }

    /**
     * run.c's rmsnorm without the weight (folded into the next matmul): x / sqrt(mean(x^2) + eps), with
     * {@code eps} from {@link #epsilon}. The eps add runs in place on the fresh mean (one tensor fewer per call).
     */
    static NDArray rmsNorm(NDArray x, NDArray eps) {
        return x.div(x.square().mean(new int[] {-1}, true).addi(eps).sqrt());
    }

    @Override
    protected NDList forwardInternal(ParameterStore store, NDList in, boolean training,
                                     PairList<String, Object> params) {
        NDArray x = in.get(0);
        NDArray cos = in.get(1);
        NDArray sin = in.get(2);
        NDArray bias = in.get(3);
        NDArray pastK = in.get(4);
        NDArray pastV = in.get(5);
        long b = x.getShape().get(0);
        long t = x.getShape().get(1);

        // Every op is a JNI call plus a Java NDArray registered with the step's manager, and the tiny models are bound
        // by that, not by arithmetic: the fused projections are cut with one native split (views, no copies) rather
        // than NDIndex gets (several JNI calls each), and temporaries that nothing else reads are updated in place.
        NDList parts = rmsNorm(x, eps).matMul(qkv.getArray()).split(qkvSplit, 2);         // q|k, v, rotated q|k
        NDArray rotated = parts.get(0).mul(cos).addi(parts.get(2).mul(sin));               // RoPE on q|k
        NDList qk = rotated.split(qkSplit, 2);
        // One new token (the decode loop) needs no transposes: [B,1,H*hs] is already [B,kvH,G,hs] in memory order.
        boolean single = t == 1;
        NDArray q = single ? qk.get(0).reshape(b, kvHeads, groups, headSize)
                : qk.get(0).reshape(b, t, kvHeads, groups, headSize).transpose(0, 2, 3, 1, 4)
                .reshape(b, kvHeads, groups * t, headSize); // query heads grouped under their kv head
        NDArray k = single ? qk.get(1).reshape(b, kvHeads, 1, headSize)
                : qk.get(1).reshape(b, t, kvHeads, headSize).transpose(0, 2, 1, 3);
        NDArray v = single ? parts.get(1).reshape(b, kvHeads, 1, headSize)
                : parts.get(1).reshape(b, t, kvHeads, headSize).transpose(0, 2, 1, 3);
        NDArray keys = pastK.getShape().get(2) == 0 ? k : pastK.concat(k, 2);                 // [B,kvH,S,hs]
        NDArray values = pastV.getShape().get(2) == 0 ? v : pastV.concat(v, 2);
        // concat ran on the past tensors, so its results belong to the state's manager: move them to the step's, or
        // every op called on them below (the transpose) would leave one tensor per step behind in the state
        keys.attach(x.getManager());
        values.attach(x.getManager());
        long s = keys.getShape().get(2);

        NDArray attended;
        boolean masked = !bias.isEmpty(); // an empty bias hides nothing (see LlamaDecoder)
        if (single) { // bias [B,1,1,S] broadcasts over [B,kvH,G,S] as it is
            NDArray scores = q.matMul(keys.transpose(0, 1, 3, 2));
            NDArray probs = (masked ? scores.add(bias) : scores).softmax(-1);
            attended = probs.matMul(values).reshape(b, 1, dim);
        } else {
            NDArray scores = q.matMul(keys.transpose(0, 1, 3, 2)).reshape(b, kvHeads, groups, t, s);
            if (masked) {
                scores = scores.add(bias);
            }
            attended = scores.softmax(-1).reshape(b, kvHeads, groups * t, s).matMul(values)
                    .reshape(b, kvHeads, groups, t, headSize).transpose(0, 3, 1, 2, 4).reshape(b, t, dim);
        }
        NDArray h = x.add(attended.matMul(wo.getArray()));

        NDList gateUp = rmsNorm(h, eps).matMul(w13.getArray()).split(gateUpSplit, 2);     // gate, up
        NDArray gate = gateUp.get(0);
        NDArray swiglu = gate.getNDArrayInternal().sigmoid().muli(gate).muli(gateUp.get(1));
        NDArray out = h.addi(swiglu.matMul(w2.getArray()));
        return new NDList(out, keys, values);
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputs) {
        Shape x = inputs[0];
        Shape past = inputs[4];
        Shape kv = new Shape(past.get(0), past.get(1), past.get(2) + x.get(1), past.get(3));
        return new Shape[] {x, kv, kv};
    }
}
