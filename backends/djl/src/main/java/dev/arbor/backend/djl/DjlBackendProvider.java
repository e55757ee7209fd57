package dev.arbor.backend.djl;

import ai.djl.engine.Engine;
import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.PartProperties;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelBackendProvider;
import dev.arbor.api.model.ModelSpec;
import dev.arbor.backend.support.StepCoalescer;
import dev.arbor.djl.runtime.DjlRuntime;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.component.annotations.ReferenceCardinality;
import org.osgi.service.component.annotations.ReferencePolicy;

/**
 * The {@code djl} backend part (DJL's PyTorch engine). Formats:
 * <ul>
 *   <li>{@code llama2c}: a llama2.c checkpoint read directly into a llama decoder defined as DJL blocks
 *       ({@link LlamaDecoder}); options {@code keep_layers}, {@code name};</li>
 *   <li>{@code torchscript}: a TorchScript decoder with KV-cache inputs and outputs, signature in
 *       {@link TorchScriptDecoder}.</li>
 * </ul>
 * Both take {@code device} ({@code cpu} default, {@code cuda}), {@code device_id} and the continuous-batching options
 * {@code batching} (default true), {@code max_batch_rows} (default 16) and {@code batch_gather_us} (default 2000). The
 * component needs the {@link DjlRuntime} service, so it starts only once DJL's engine was set up inside the
 * framework; backends it opened are closed when it deactivates (bundle stop), each waiting for its in-flight calls.
 * Backends batch the decode steps of concurrent requests; every {@link StepCoalescer.Observer} service (the HTTP
 * server's metrics) hears of each batch.
 */
@Component(immediate = true, service = ModelBackendProvider.class, property = {
        PartProperties.NAME + "=djl",
        PartProperties.DESCRIPTION + "=llama2.c checkpoints and TorchScript decoders on DJL's PyTorch engine"})
public final class DjlBackendProvider implements ModelBackendProvider {
    /** Formats {@link #open} accepts. */
    public static final List<String> FORMATS = List.of("llama2c", "torchscript");

    private final Set<DjlDecoderBackend> open = ConcurrentHashMap.newKeySet();

    /** Observers of batched runs, replaced by DS as services come and go; none on a plain class path. */
    @Reference(cardinality = ReferenceCardinality.MULTIPLE, policy = ReferencePolicy.DYNAMIC,
            service = StepCoalescer.Observer.class)
    private volatile List<StepCoalescer.Observer> batchObservers = List.of();

    /** Tells every current observer service of a batch. */
    private final StepCoalescer.Observer batched = StepCoalescer.Observer.fanOut(() -> batchObservers);

    /** For SCR: ensures the engine was initialised by the runtime bundle before this component runs. */
    @Reference
    DjlRuntime runtime;

    /** Opens {@code spec}; fails with an ArborException naming the file and the cause. */
    @Override
    public ModelBackend open(ModelSpec spec) {
        String format = spec.format().trim().toLowerCase(Locale.ROOT);
        if (!FORMATS.contains(format)) {
            throw ArborException.invalid("model format '" + spec.format() + "' of '" + spec.path() + "' is not "
                    + "supported by the djl backend; supported formats: " + FORMATS + " (ONNX files run on the "
                    + "onnxruntime backend)");
        }
        if (!Files.exists(spec.path())) {
            throw new ArborException(ArborException.Kind.NOT_FOUND, "model file '" + spec.path() + "' does not exist");
        }
        if (isOnnx(spec.path())) {
            // DJL's PyTorch engine cannot read ONNX; without this check a genai folder or an .onnx file would fail
            // deep in the loader (or ask for TorchScript options) instead of naming the backend that runs it.
            throw new ArborException(ArborException.Kind.INCOMPATIBLE, "'" + spec.path() + "' is an ONNX model, "
                    + "which the djl backend (PyTorch engine: formats " + FORMATS + ") cannot run; declare it with "
                    + "\"backend\": \"onnxruntime\", \"format\": \"onnx\" (that backend also carries the convolution "
                    + "state of hybrid LFM2 models)");
        }
        Engine engine = DjlRuntime.pytorch();
        DjlDecoderBackend backend = format.equals("llama2c")
                ? Llama2cDecoders.open(engine, spec.path(), spec.options(), open::remove, batched)
                : TorchScriptDecoder.open(engine, spec.path(), spec.options(), open::remove, batched);
        open.add(backend);
        return backend;
    }

    /** True for an .onnx file or a folder holding one or an onnxruntime-genai genai_config.json. */
    static boolean isOnnx(Path path) {
        if (Files.isRegularFile(path)) {
            return path.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".onnx");
        }
        if (Files.isRegularFile(path.resolve("genai_config.json"))) {
            return true;
        }
        try (java.util.stream.Stream<Path> files = Files.list(path)) {
            return files.anyMatch(p -> p.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".onnx"));
        } catch (java.io.IOException e) {
            return false;
        }
    }

    static String deviceOption(Options options) {
        return options.string("device", "cpu").trim().toLowerCase(Locale.ROOT);
    }

    /** Closes the backends still open (each waits for its in-flight forward calls). */
    @Deactivate
    void deactivate() {
        for (DjlDecoderBackend b : List.copyOf(open)) {
            b.close();
        }
    }
}
