package dev.arbor.generation.maskeddiffusion;

import dev.arbor.api.Options;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelSpec;
import dev.arbor.api.model.NativeAttention;
import dev.arbor.backend.onnxruntime.OnnxRuntimeBackendProvider;
import dev.arbor.models.llama2c.Llama2cReferenceModel;
import dev.arbor.models.llama2c.Llama2cTokenizer;
import dev.arbor.testkit.CardOverrideBackend;
import dev.arbor.testkit.SharedModels;
import java.nio.file.Path;
import java.util.Map;

/**
 * stories260K (a causal llama2.c model) on both backends, ONNX Runtime and the pure-Java reference, each shown as a
 * diffusion LM (MASK = id 0, {@code <unk>}) so the strategies' forward requests (Full and Segments attention, cache
 * append, read-only and truncate) run on the real backends. The model is not a diffusion LM, so its text is
 * meaningless; the two backends must still agree token for token under greedy decoding. Until the forge's diffusion
 * models land, this is what "runs on both backends" can check. Skips when the shared models are absent.
 */
final class TwoBackends implements AutoCloseable {
    static final int MASK = 0;
    final ModelBackend onnx;
    final ModelBackend reference;
    final int[] prompt;

    TwoBackends(Path cacheDir) {
        Path checkpoint = SharedModels.require("stories260K/stories260K.bin");
        Llama2cTokenizer tokenizer = Llama2cTokenizer.read(SharedModels.require("stories260K/tok512.bin"), 512);
        this.prompt = tokenizer.encode("Once upon a time", true);
        this.onnx = new OnnxRuntimeBackendProvider().open(new ModelSpec(checkpoint, "llama2c",
                Options.of(Map.of("cache_dir", cacheDir.toString()))));
        this.reference = Llama2cReferenceModel.open(checkpoint);
    }

    ModelBackend onnx(NativeAttention attention, int blockSize) {
        return CardOverrideBackend.asDiffusion(onnx, MASK, LogitAlignment.NEXT, attention, blockSize);
    }

    ModelBackend reference(NativeAttention attention, int blockSize) {
        return CardOverrideBackend.asDiffusion(reference, MASK, LogitAlignment.NEXT, attention, blockSize);
    }

    @Override
    public void close() {
        onnx.close();
        reference.close();
    }
}
