package dev.arbor.backend.djl;

import ai.djl.Device;
import ai.djl.MalformedModelException;
import ai.djl.Model;
import ai.djl.engine.Engine;
import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.model.LogitAlignment;
import dev.arbor.api.model.ModelCard;
import dev.arbor.backend.support.StepCoalescer;
import dev.arbor.api.model.NativeAttention;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.OptionalInt;
import java.util.function.Consumer;
import java.util.logging.Logger;

/**
 * Format {@code torchscript}: a traced or scripted decoder ({@code torch.jit.save}, a {@code .pt} file) loaded by
 * DJL's PyTorch engine. Expected signature, positional tensors only (DJL passes an NDList as flat arguments and
 * flattens a returned tuple):
 * <pre>
 * forward(input_ids      int64   [B, T],
 *         position_ids   int64   [B, T],
 *         attention_bias float32 [B, 1, T, P+T]   (0 = visible, -1e9 = hidden; P = cached slots, may be 0),
 *         past_key_0, past_value_0, ..., past_key_{L-1}, past_value_{L-1}
 *                        float32 [B, kv_heads, P, head_size])
 *   -> (logits float32 [B, T, vocab],
 *       present_key_0, present_value_0, ...  float32 [B, kv_heads, P+T, head_size])
 * </pre>
 * i.e. exactly the signature of the Java {@link LlamaDecoder}; presents are the pasts with the new tokens' keys and
 * values appended along dim 2. A TorchScript file does not describe its KV layout, so options must give it:
 * {@code num_layers}, {@code kv_heads}, {@code head_size}, {@code vocab_size}, {@code max_positions}; optional
 * {@code bos}, {@code eos} (comma-separated), {@code pad}, {@code name}, {@code device}, {@code device_id}.
 */
final class TorchScriptDecoder {
    private static final Logger LOG = Logger.getLogger(TorchScriptDecoder.class.getName());

    private TorchScriptDecoder() {
    }

    static DjlDecoderBackend open(Engine engine, Path file, Options options, Consumer<DjlDecoderBackend> onClose,
                                  StepCoalescer.Observer batches) {
        if (!Files.isRegularFile(file)) {
            throw new ArborException(ArborException.Kind.NOT_FOUND, "TorchScript model file '" + file
                    + "' does not exist");
        }
        int layers = required(options, "num_layers", file);
        int kvHeads = required(options, "kv_heads", file);
        int headSize = required(options, "head_size", file);
        int vocab = required(options, "vocab_size", file);
        int maxPositions = required(options, "max_positions", file);
        String fileName = file.getFileName().toString();
        String name = options.string("name", fileName);
        Device device = DjlDecoderBackend.device(engine, DjlBackendProvider.deviceOption(options),
                options.integer("device_id", 0, 0, 1024), name);
        int[] eos = parseIds(options.string("eos", ""), "eos", file);
        ModelCard card = new ModelCard(name, vocab, maxPositions, 0, optionalId(options, "bos"), eos,
                optionalId(options, "pad"), OptionalInt.empty(), LogitAlignment.NEXT, NativeAttention.CAUSAL, 0,
                DjlDecoderBackend.capabilities(false));
        Model model = Model.newInstance(name, device, engine.getEngineName());
        try {
            String prefix = fileName.endsWith(".pt") ? fileName.substring(0, fileName.length() - 3) : fileName;
            model.load(file.getParent() == null ? Path.of(".") : file.getParent(), prefix);
            DjlDecoderBackend backend = new DjlDecoderBackend(file.toString(), model.getBlock(), model.getNDManager(),
                    model, card, device, layers, kvHeads, headSize, null, 0,
                    DjlDecoderBackend.batching(options), batches, onClose);
            LOG.info(() -> "opened TorchScript decoder '" + file + "' on DJL/PyTorch " + device + ": " + card);
            return backend;
        } catch (IOException | MalformedModelException | RuntimeException e) {
            model.close();
            if (e instanceof ArborException a) {
                throw a;
            }
            throw ArborException.badModel("cannot load '" + file + "' as a TorchScript module (torch.jit.save "
                    + "output) with DJL's PyTorch engine: " + e.getMessage(), e);
        }
    }

    private static int required(Options options, String key, Path file) {
        int v = options.integer(key, 0, 0, Integer.MAX_VALUE);
        if (v <= 0) {
            throw ArborException.invalid("format torchscript needs option '" + key + "' (a positive integer) for '"
                    + file + "': a TorchScript file does not describe its KV-cache layout; give num_layers, "
                    + "kv_heads, head_size, vocab_size and max_positions in the pipeline's model options");
        }
        return v;
    }

    private static OptionalInt optionalId(Options options, String key) {
        int v = options.integer(key, -1, -1, Integer.MAX_VALUE);
        return v < 0 ? OptionalInt.empty() : OptionalInt.of(v);
    }

    private static int[] parseIds(String text, String key, Path file) {
        if (text == null || text.isBlank()) {
            return new int[0];
        }
        try {
            return Arrays.stream(text.split(",")).map(String::trim).mapToInt(Integer::parseInt).toArray();
        } catch (NumberFormatException e) {
            throw ArborException.invalid("option '" + key + "' for '" + file + "' must be comma-separated token ids, "
                    + "got '" + text + "'");
        }
    }
}
