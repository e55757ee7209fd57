package dev.arbor.backend.djl;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.internal.NDArrayEx;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;
import dev.arbor.models.llama2c.Llama2cCheckpoint;
import dev.arbor.models.llama2c.Llama2cConfig;

/**
 * A llama-family decoder (llama2.c checkpoints) as a DJL block, with the decoder signature both DJL backend networks
 * share (see {@link DecoderNetwork}): inputs {@code input_ids [B,T] int64, position_ids [B,T] int64,
 * attention_bias [B,1,T,P+T] float32, past_key_0, past_value_0, ... [B,kvHeads,P,headSize]}, outputs
 * {@code logits [B,T,vocab], present_key_0, present_value_0, ... [B,kvHeads,P+T,headSize]}.
 * The network is defined in Java and the mask is an input, so every attention pattern (block-causal segments,
 * tree masks, padding) is just a different bias tensor. An empty {@code attention_bias} (shape {@code [0]}) means
 * "nothing is hidden": the decode loop's common case, where adding a zero tensor in every layer is measurable.
 * The first input may instead be float32 {@code inputs_embeds [B,T,dim]}, which then replaces the embedding gather
 * (input embeddings, e.g. the feature maps of a VAR next-scale prior).
 *
 * <p>Public so that plain DJL code (a {@code Predictor}, DJL's {@code TextGenerator}) can run the same network; the
 * package is not exported from the bundle, Arbor code uses it through the {@code djl} backend.
 */
public final class LlamaDecoder extends AbstractBlock {
    private final LlamaDecoderLayer[] layers;
    private final Parameter embedding;
    private final Parameter classifier;
    private final Parameter ropeCos;
    private final Parameter ropeSin;
    private final NDArray eps;
    /** The checkpoint's shape; the rearranged Java weights are dropped once copied into native memory. */
    private final Llama2cConfig config;

    /** Copies the (rearranged) weights of {@code checkpoint} into {@code manager}, which owns them from then on. */
    LlamaDecoder(Llama2cCheckpoint checkpoint, NDManager manager) {
        LlamaWeights w = new LlamaWeights(checkpoint);
        this.config = w.config;
        int vocab = w.config.vocabSize();
        int width = w.dim + w.kvDim;
        this.embedding = addParameter(LlamaDecoderLayer.weight("embedding",
                manager.create(w.embedding, new Shape(vocab, w.dim))));
        this.classifier = addParameter(LlamaDecoderLayer.weight("classifier",
                manager.create(w.classifier, new Shape(w.dim, vocab))));
        this.ropeCos = addParameter(LlamaDecoderLayer.weight("rope_cos",
                manager.create(w.ropeCos, new Shape(w.config.seqLen(), width))));
        this.ropeSin = addParameter(LlamaDecoderLayer.weight("rope_sin",
                manager.create(w.ropeSin, new Shape(w.config.seqLen(), width))));
        this.eps = LlamaDecoderLayer.epsilon(manager);
        this.layers = new LlamaDecoderLayer[w.config.nLayers()];
        for (int l = 0; l < layers.length; l++) {
            layers[l] = addChildBlock("layer" + l, new LlamaDecoderLayer(w, l, manager));
        }
    }

    /** The decoder of the llama2.c checkpoint {@code file}; its weights live in (and die with) {@code manager}. */
    public static LlamaDecoder load(java.nio.file.Path file, NDManager manager) {
        return new LlamaDecoder(Llama2cCheckpoint.read(file), manager);
    }

    /** Key/value heads of every KV tensor ({@code [B, kvHeads, S, headSize]}). */
    public int kvHeads() {
        return config.nKvHeads();
    }

    /** Width of one attention head. */
    public int headSize() {
        return config.headSize();
    }

    /** Transformer blocks (each adds one key and one value input and output). */
    public int numLayers() {
        return layers.length;
    }

    @Override
    protected NDList forwardInternal(ParameterStore store, NDList in, boolean training,
                                     PairList<String, Object> params) {
        NDArray ids = in.get(0);
        NDArray positions = in.get(1);
        NDArray bias = in.get(2);
        long b = ids.getShape().get(0);
        long t = ids.getShape().get(1);
        // Row gathers as torch embedding lookups: one JNI call each (an NDIndex get takes several), and the results
        // belong to the manager of the ids (the step's), not the weights'.
        NDArrayEx ex = positions.getNDArrayInternal();
        boolean embeds = ids.getDataType() == DataType.FLOAT32;
        if (embeds && (ids.getShape().dimension() != 3 || ids.getShape().get(2) != config.dim())) {
            throw new IllegalArgumentException("inputs_embeds must be [B,T," + config.dim() + "], got "
                    + ids.getShape());
        }
        NDArray x = embeds ? ids                                                                      // [B,T,dim]
                : ex.embedding(ids, embedding.getArray(), SparseFormat.DENSE).singletonOrThrow();
        NDArray cos = ex.embedding(positions, ropeCos.getArray(), SparseFormat.DENSE).singletonOrThrow(); // [B,T,w]
        NDArray sin = ex.embedding(positions, ropeSin.getArray(), SparseFormat.DENSE).singletonOrThrow();
        NDArray bias5 = t == 1 || bias.isEmpty() ? bias                                 // [B,1,1,S] as it is
                : bias.reshape(b, 1, 1, t, bias.getShape().get(3));                     // broadcast over head groups
        NDList out = new NDList(1 + 2 * layers.length);
        out.add(null);
        for (int l = 0; l < layers.length; l++) {
            NDList r = layers[l].forward(store, new NDList(x, cos, sin, bias5, in.get(3 + 2 * l), in.get(4 + 2 * l)),
                    false);
            x = r.get(0);
            out.add(r.get(1));
            out.add(r.get(2));
        }
        out.set(0, LlamaDecoderLayer.rmsNorm(x, eps).matMul(classifier.getArray()));
        return out;
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputs) {
        Shape ids = inputs[0];
        Shape[] out = new Shape[1 + 2 * layers.length];
        out[0] = new Shape(ids.get(0), ids.get(1), config.vocabSize());
        for (int i = 1; i < out.length; i++) {
            Shape past = inputs[2 + i];
            out[i] = new Shape(past.get(0), past.get(1), past.get(2) + ids.get(1), past.get(3));
        }
        return out;
    }
}
