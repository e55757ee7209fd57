package dev.arbor.generation.fastdllm;

import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.model.NativeAttention;
import dev.arbor.models.llama2c.Llama2cCheckpoint;
import dev.arbor.models.llama2c.Llama2cConfig;
import dev.arbor.models.llama2c.Llama2cReferenceModel;
import dev.arbor.testkit.CardOverrideBackend;

/**
 * The tiny transformer of METHODS.md §5.5: a 2-layer llama2.c network (d = 16) with random but fixed weights, run by
 * the pure-Java reference model (every attention spec and state operation), shown as a diffusion LM whose MASK is
 * the last id. Its text is meaningless; its cached and recomputed logits are real numbers of a real transformer.
 */
final class TinyTransformers {
    static final int VOCAB = 48;
    static final int MASK = VOCAB - 1;

    private TinyTransformers() {
    }

    static CardOverrideBackend blockCausal(int blockSize, LogitAlignment alignment, long seed) {
        return CardOverrideBackend.asDiffusion(reference(seed), MASK, alignment, NativeAttention.BLOCK_CAUSAL,
                blockSize);
    }

    static CardOverrideBackend bidirectional(LogitAlignment alignment, long seed) {
        return CardOverrideBackend.asDiffusion(reference(seed), MASK, alignment, NativeAttention.BIDIRECTIONAL, 0);
    }

    private static Llama2cReferenceModel reference(long seed) {
        Llama2cConfig config = new Llama2cConfig(16, 32, 2, 2, 2, VOCAB, 96, true);
        return new Llama2cReferenceModel(Llama2cCheckpoint.random(config, seed), "tiny-transformer-" + seed);
    }
}
