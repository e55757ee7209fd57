package dev.arbor.djl.runtime;

import ai.djl.engine.Engine;
import ai.djl.pytorch.engine.PtEngineProvider;
import dev.arbor.api.ArborException;
import java.nio.file.Path;
import java.util.logging.Logger;
import org.osgi.framework.BundleContext;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;

/**
 * Owns DJL's process-wide PyTorch engine. Registered as a service once DJL's environment is configured: DJL bundles
 * reference this service and get the engine only through {@link #pytorch()}, so they never touch {@link Engine}
 * before it is set up, because DJL's static engine registry is filled once per JVM by whoever touches it first
 * (OSGI-NOTES 4.4). The engine starts on first use (the first model a {@code djl} pipeline opens), so a runtime that
 * only serves ONNX Runtime pipelines never loads libtorch (about 0.5 s per start, and a 430 MB extraction into the
 * cache on a fresh installation); the framework property {@code arbor.djl.eager=true} starts it with the bundle
 * instead, for servers that want the first request to pay nothing.
 *
 * <p>Why explicit registration with the bundle loader as TCCL, and not SPI Fly (OSGI-NOTES 4.2, 4.3, 4.7): DJL finds
 * engines with {@code ServiceLoader.load(EngineProvider.class)} and its natives with
 * {@code getContextClassLoader().getResources("native/lib/pytorch.properties")}, both through the thread context
 * class loader. SPI Fly only switches the TCCL around the woven {@code ServiceLoader} call, so the native lookup still
 * fails; it would add six bundles and still need this trick. Setting the TCCL to this bundle's loader (which sees
 * every embedded jar) for the first engine access, and registering {@link PtEngineProvider} explicitly in case
 * another bundle touched {@code Engine} first, solves both.
 *
 * <p>Never phones home and never downloads: {@code OPT_OUT_TRACKING} and {@code ai.djl.offline} are set before DJL's
 * first class is initialised. DJL extracts the natives once into {@code DJL_CACHE_DIR}; when neither the environment
 * nor a system property sets it, it defaults to {@code <arbor.cache>/djl} inside an installation (the launcher sets
 * {@code arbor.cache} to {@code <home>/cache}), else to DJL's own default {@code ~/.djl.ai}. PyTorch runs one
 * intra-op and one inter-op thread unless {@code ai.djl.pytorch.num_threads} / {@code num_interop_threads} say
 * otherwise (see {@link #configure}).
 */
@Component(immediate = true, service = DjlRuntime.class)
public final class DjlRuntime {
    private static final Logger LOG = Logger.getLogger(DjlRuntime.class.getName());
    /** DJL's name of the PyTorch engine. */
    public static final String PYTORCH = "PyTorch";
    /** DJL's system property for PyTorch's intra-op threads (read once, when the engine starts). */
    public static final String NUM_THREADS = "ai.djl.pytorch.num_threads";
    /** DJL's system property for PyTorch's inter-op threads. */
    public static final String NUM_INTEROP_THREADS = "ai.djl.pytorch.num_interop_threads";

    private static Engine engine;
    private static RuntimeException failure;

    /**
     * Prepares the environment and, with {@code arbor.djl.eager=true}, initialises the engine now; a failure is kept
     * and reported by {@link #pytorch()}.
     */
    @Activate
    void activate(BundleContext context) {
        String cache = context.getProperty("arbor.cache");
        configure(cache == null || cache.isBlank() ? null : Path.of(cache));
        if (!Boolean.parseBoolean(context.getProperty("arbor.djl.eager"))) {
            LOG.fine(() -> "DJL configured (cache " + cacheDir() + "); PyTorch starts on first use");
            return;
        }
        try {
            Engine e = pytorch();
            LOG.info(() -> "DJL " + Engine.getDjlVersion() + " ready: engine " + e.getEngineName() + " "
                    + e.getVersion() + ", " + e.getGpuCount() + " GPU(s), cache " + cacheDir());
        } catch (ArborException e) {
            LOG.severe(e.getMessage());
        }
    }

    /**
     * Sets the no-network flags and, when unset, {@code DJL_CACHE_DIR} to {@code arborCache/djl} ({@code arborCache}
     * may be null: DJL's default then applies). The Hugging Face tokenizer bundle picks the same folder, so one
     * installation has one DJL cache. Must run before DJL's first class initialises; idempotent.
     */
    public static void configure(Path arborCache) {
        System.setProperty("OPT_OUT_TRACKING", "true"); // else DJL calls the EC2 metadata address (OSGI-NOTES 3.5)
        System.setProperty("ai.djl.offline", "true");   // never download natives or models
        // One PyTorch thread per op unless configured: the decoders Arbor runs are dispatch-bound, and intra-op thread
        // pools on a busy machine cost more than they save (stories260K: ~30 tok/s with PyTorch's default pool vs
        // ~500 with one thread on a loaded 2-core host). Larger models: -Dai.djl.pytorch.num_threads=N.
        if (System.getProperty(NUM_THREADS) == null) {
            System.setProperty(NUM_THREADS, "1");
        }
        if (System.getProperty(NUM_INTEROP_THREADS) == null) {
            System.setProperty(NUM_INTEROP_THREADS, "1");
        }
        if (arborCache != null && System.getenv("DJL_CACHE_DIR") == null
                && System.getProperty("DJL_CACHE_DIR") == null) {
            System.setProperty("DJL_CACHE_DIR", arborCache.resolve("djl").toAbsolutePath().toString());
        }
    }

    /**
     * The PyTorch engine, initialised on first call with this bundle's class loader as TCCL; thread-safe.
     *
     * @throws ArborException UNAVAILABLE naming the cause when the natives cannot be loaded (missing for this platform,
     *                        cache not writable, ...); the same failure is reported on every later call
     */
    public static synchronized Engine pytorch() {
        if (engine != null) {
            return engine;
        }
        if (failure != null) {
            throw failure;
        }
        configure(null);
        Thread t = Thread.currentThread();
        ClassLoader previous = t.getContextClassLoader();
        t.setContextClassLoader(DjlRuntime.class.getClassLoader());
        try {
            Engine.getAllEngines();                         // static init: ServiceLoader through the TCCL
            Engine.registerEngine(new PtEngineProvider());  // in case another bundle initialised Engine first
            engine = Engine.getEngine(PYTORCH);             // loads the natives now (Platform.detectPlatform: TCCL)
            return engine;
        } catch (RuntimeException | LinkageError e) {
            if (rootMessage(e).contains("already loaded in another classloader")) {
                failure = new ArborException(ArborException.Kind.UNAVAILABLE, "DJL's PyTorch engine could not start: "
                        + "its native libraries were already loaded in this JVM by an earlier copy of bundle "
                        + "dev.arbor.djl.runtime (it was reinstalled or refreshed, or a second framework runs in the "
                        + "same JVM), and a JVM loads a native library from one class loader only; restart the "
                        + "runtime (" + rootMessage(e) + ")", e);
                throw failure;
            }
            failure = new ArborException(ArborException.Kind.UNAVAILABLE, "DJL's PyTorch engine could not start: "
                    + rootMessage(e) + ". The bundle dev.arbor.djl.runtime embeds the PyTorch natives for "
                    + "linux-x86_64 only and downloads are disabled (ai.djl.offline=true); on another platform build "
                    + "backends/djl-runtime with that platform's pytorch-native artifact, and check that "
                    + "DJL_CACHE_DIR ("
                    + cacheDir() + ") is writable and has ~450 MB free", e);
            throw failure;
        } finally {
            t.setContextClassLoader(previous);
        }
    }

    /** Where DJL extracts its natives: {@code DJL_CACHE_DIR} (environment, then system property) or ~/.djl.ai. */
    public static String cacheDir() {
        String dir = System.getenv("DJL_CACHE_DIR");
        if (dir == null) {
            dir = System.getProperty("DJL_CACHE_DIR");
        }
        return dir != null ? dir : Path.of(System.getProperty("user.home"), ".djl.ai").toString();
    }

    private static String rootMessage(Throwable e) {
        StringBuilder sb = new StringBuilder(String.valueOf(e.getMessage()));
        for (Throwable c = e.getCause(); c != null && c != c.getCause(); c = c.getCause()) {
            sb.append(" <- ").append(c.getClass().getSimpleName()).append(": ").append(c.getMessage());
        }
        return sb.toString();
    }
}
