package dev.arbor.generation.eoserass;

import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.model.NativeAttention;
import dev.arbor.models.llama2c.Llama2cCheckpoint;
import dev.arbor.models.llama2c.Llama2cConfig;
import dev.arbor.models.llama2c.Llama2cReferenceModel;
import dev.arbor.testkit.CardOverrideBackend;

/**
 * A 2-layer llama2.c network (d = 16, context 96) with random fixed weights, run by the pure-Java reference model
 * and shown as a bidirectional diffusion LM (MASK = the last id): long canvases for schedule tests. Its text is
 * meaningless.
 */
final class TinyTransformers {
    static final int VOCAB = 48;
    static final int MASK = VOCAB - 1;

    private TinyTransformers() {
    }

    static CardOverrideBackend bidirectional(LogitAlignment alignment, long seed) {
        Llama2cConfig config = new Llama2cConfig(16, 32, 2, 2, 2, VOCAB, 96, true);
        return CardOverrideBackend.asDiffusion(new Llama2cReferenceModel(Llama2cCheckpoint.random(config, seed),
                "tiny-transformer-" + seed), MASK, alignment, NativeAttention.BIDIRECTIONAL, 0);
    }
}
