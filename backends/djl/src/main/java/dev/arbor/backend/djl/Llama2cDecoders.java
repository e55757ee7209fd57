package dev.arbor.backend.djl;

import ai.djl.Device;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import dev.arbor.api.Options;
import dev.arbor.api.model.ModelCard;
import dev.arbor.backend.support.StepCoalescer;
import dev.arbor.models.llama2c.Llama2cCheckpoint;
import dev.arbor.models.llama2c.Llama2cModelCard;
import java.nio.file.Path;
import java.util.function.Consumer;
import java.util.logging.Logger;

/**
 * Format {@code llama2c}: reads the checkpoint directly (no ONNX step) into a {@link LlamaDecoder}. The card's special
 * ids, alignment, attention pattern and block size come from {@link Llama2cModelCard} (the {@code .card.json}
 * sidecar, else llama2.c's defaults), so the project's own trained models (diffusion, block-causal) open the same way.
 * Options: {@code keep_layers} (0 = all; a layer-skip draft), {@code name}, {@code device}, {@code device_id}, and
 * the batching options of {@link DjlDecoderBackend} ({@code batching}, {@code max_batch_rows}, {@code batch_gather_us}).
 */
final class Llama2cDecoders {
    private static final Logger LOG = Logger.getLogger(Llama2cDecoders.class.getName());

    private Llama2cDecoders() {
    }

    static DjlDecoderBackend open(Engine engine, Path checkpoint, Options options,
                                  Consumer<DjlDecoderBackend> onClose, StepCoalescer.Observer batches) {
        int keepLayers = options.integer("keep_layers", 0, 0, Integer.MAX_VALUE);
        Llama2cCheckpoint full = Llama2cCheckpoint.read(checkpoint);
        Llama2cCheckpoint weights = full.withLayers(keepLayers);
        Llama2cModelCard facts = Llama2cModelCard.forCheckpoint(checkpoint)
                .validateAgainst(full.config(), checkpoint.toString());
        String name = options.string("name", facts.name());
        Device device = DjlDecoderBackend.device(engine, DjlBackendProvider.deviceOption(options),
                options.integer("device_id", 0, 0, 1024), name);
        var cfg = weights.config();
        ModelCard card = facts.applyHeads(new ModelCard(name, cfg.vocabSize(), cfg.seqLen(), cfg.dim(), facts.bos(),
                facts.eos(), facts.pad(), facts.mask(), facts.alignment(), facts.attention(), facts.blockSize(),
                DjlDecoderBackend.capabilities(true)));
        NDManager manager = engine.newBaseManager(device);
        try {
            LlamaDecoder network = new LlamaDecoder(weights, manager);
            DjlDecoderBackend backend = new DjlDecoderBackend(checkpoint.toString(), network, manager, null, card,
                    device, cfg.nLayers(), cfg.nKvHeads(), cfg.headSize(), weights.tokenEmbedding(), cfg.dim(),
                    DjlDecoderBackend.batching(options), batches, onClose);
            LOG.info(() -> "opened llama2.c checkpoint '" + checkpoint + "' on DJL/PyTorch " + device + ": "
                    + cfg + "; " + card);
            return backend;
        } catch (RuntimeException e) {
            manager.close();
            throw e;
        }
    }
}
