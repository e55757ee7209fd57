package dev.arbor.backend.onnxruntime;

import dev.arbor.api.ArborException;
import dev.arbor.api.PartProperties;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelBackendProvider;
import dev.arbor.api.model.ModelSpec;
import dev.arbor.backend.support.StepCoalescer;
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
 * The {@code onnxruntime} backend part. Formats:
 * <ul>
 *   <li>{@code onnx}: a decoder ONNX file (or a directory with one), see {@link OnnxDecoderBackend};</li>
 *   <li>{@code llama2c}: a llama2.c checkpoint, converted once to an Arbor ONNX decoder (cached by content hash)
 *       and then opened as {@code onnx}; options {@code keep_layers} (default 0 = all) and {@code cache_dir}
 *       (default: system property {@code arbor.cache}, else {@code ${java.io.tmpdir}/arbor-cache}); such a model
 *       also offers its input-embedding matrix ({@code EmbeddingAccess}, {@code Capability.EMBEDDING_MATRIX}).</li>
 * </ul>
 * Backends it opened and that are still open are closed when the component deactivates (bundle stop), each waiting
 * for its in-flight calls, so no native session outlives the bundle that created it. Fused models batch the forward
 * steps of concurrent requests; every {@link StepCoalescer.Observer} service (the HTTP server's metrics) hears of
 * each batch.
 */
@Component(immediate = true, service = ModelBackendProvider.class, property = {
        PartProperties.NAME + "=onnxruntime",
        PartProperties.DESCRIPTION + "=Decoder ONNX models and llama2.c checkpoints on ONNX Runtime"})
public final class OnnxRuntimeBackendProvider implements ModelBackendProvider {
    /** Formats {@link #open} accepts. */
    public static final List<String> FORMATS = List.of("onnx", "llama2c");

    private final Set<OnnxDecoderBackend> open = ConcurrentHashMap.newKeySet();

    /** Observers of batched runs, replaced by DS as services come and go; none on a plain class path. */
    @Reference(cardinality = ReferenceCardinality.MULTIPLE, policy = ReferencePolicy.DYNAMIC,
            service = StepCoalescer.Observer.class)
    private volatile List<StepCoalescer.Observer> batchObservers = List.of();

    /** Tells every current observer service of a batch. */
    private final StepCoalescer.Observer batched = StepCoalescer.Observer.fanOut(() -> batchObservers);

    /** Opens {@code spec}; fails with an ArborException naming the file and the cause. */
    @Override
    public ModelBackend open(ModelSpec spec) {
        String format = spec.format().trim().toLowerCase(Locale.ROOT);
        Path onnx = switch (format) {
            case "onnx" -> spec.path();
            case "llama2c" -> Llama2cSupport.convert(spec.path(), spec.options());
            default -> throw ArborException.invalid("model format '" + spec.format() + "' of '" + spec.path()
                    + "' is not supported by the onnxruntime backend; supported formats: " + FORMATS);
        };
        // A llama2c model also offers its checkpoint's token embedding (EmbeddingAccess, read lazily).
        OnnxDecoderBackend backend = OnnxDecoderBackend.open(onnx, spec.options(), open::remove,
                format.equals("llama2c") ? spec.path() : null, batched);
        open.add(backend);
        return backend;
    }

    /** Closes the backends still open (each waits for its in-flight forward calls). */
    @Deactivate
    void deactivate() {
        for (OnnxDecoderBackend b : List.copyOf(open)) {
            b.close();
        }
    }
}
