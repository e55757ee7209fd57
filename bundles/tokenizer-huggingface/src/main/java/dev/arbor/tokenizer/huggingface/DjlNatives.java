package dev.arbor.tokenizer.huggingface;

import ai.djl.huggingface.tokenizers.jni.LibUtils;
import ai.djl.util.Utils;
import dev.arbor.api.ArborException;
import java.nio.file.Path;
import java.util.Locale;
import java.util.function.Supplier;

/**
 * Makes DJL's Hugging Face tokenizers load their native library ({@code libtokenizers}) offline, from this bundle,
 * and turns every way that can fail into an {@link ArborException} that says why.
 *
 * <p>How DJL 0.36.0 finds the native (read from {@code ai.djl.huggingface.tokenizers.jni.LibUtils} and
 * {@code ai.djl.util.Platform}, not guessed):
 * <ol>
 *   <li>{@code LibUtils}' static initialiser calls {@code Platform.detectPlatform("tokenizers")}, which lists
 *       {@code native/lib/tokenizers.properties} through the <em>thread context class loader</em> (TCCL). Inside
 *       Felix the TCCL is whatever the calling thread had (often the application class loader), which cannot see
 *       the jar embedded in this bundle: DJL then throws {@code AssertionError("No tokenizers version found in
 *       property file")}.</li>
 *   <li>{@code Platform.fromSystem()} probes CUDA through JNA ({@code CudaUtils}); this is why JNA is embedded.</li>
 *   <li>With {@code ai.djl.offline=true} the flavour is forced to {@code cpu}. The library is looked for in
 *       {@code <engine cache>/tokenizers/<version>-cpu-<os>-<arch>/libtokenizers.so}
 *       ({@code ENGINE_CACHE_DIR}, else {@code DJL_CACHE_DIR}, else {@code ~/.djl.ai}); when absent it is copied
 *       there from {@code native/lib/<os>-<arch>/cpu/} found, again, through the TCCL. Only a CUDA flavour (never
 *       used offline) would download from publish.djl.ai; a platform whose native is not in the jar fails with
 *       "Unexpected flavor: cpu".</li>
 *   <li>It then calls {@code System.load} from {@code LibUtils}, so the JNI methods bind to this bundle's class
 *       loader. The static initialiser catches only {@code RuntimeException}: an {@code Error} (the
 *       AssertionError above, a NoClassDefFoundError, an UnsatisfiedLinkError) leaves {@code LibUtils} unusable
 *       for the life of this class loader. A failed first attempt is therefore final, which is why it must happen
 *       with the TCCL set correctly, and why this class remembers the failure and reports it again verbatim.</li>
 * </ol>
 *
 * <p>Consequences for OSGi: the TCCL is set to this bundle's class loader around the first load and around every
 * tokenizer creation ({@link #withBundleClassLoader}); afterwards DJL needs no TCCL. A JVM loads one native file
 * into one class loader only, so a second class loader loading the same cached path (this bundle updated or
 * refreshed, or another bundle embedding DJL's tokenizers with the same cache folder) fails with "already loaded in
 * another classloader": this bundle is long-lived, like the other native runtime bundles.
 *
 * <p>No network, ever: {@code ai.djl.offline=true} (no downloads, and {@code Ec2Utils.callHome}, which
 * {@code HuggingFaceTokenizer.newInstance} calls, returns at once) and {@code OPT_OUT_TRACKING=true} are set when
 * absent and required when present. DJL reads environment variables <em>before</em> system properties, so an
 * environment that says otherwise cannot be overridden from here and is refused.
 */
final class DjlNatives {
    /** The DJL artifact embedded here, for messages. */
    static final String ARTIFACT = "ai.djl.huggingface:tokenizers:0.36.0";
    /** Arbor's cache root; DJL's cache goes under {@code ${arbor.cache}/djl} unless DJL's own setting is given. */
    static final String ARBOR_CACHE = "arbor.cache";

    private static final Object LOCK = new Object();
    private static boolean loaded;
    private static ArborException failure;

    private DjlNatives() {
    }

    /**
     * Loads the native library once for this class loader; later calls return at once or repeat the first
     * failure (which DJL makes permanent, see the class comment).
     */
    static void ensureLoaded() {
        synchronized (LOCK) {
            if (loaded) {
                return;
            }
            if (failure != null) {
                throw new ArborException(failure.kind(), failure.getMessage(), failure);
            }
            configureEnvironment();
            try {
                withBundleClassLoader(() -> {
                    LibUtils.checkStatus(); // first touch runs LibUtils' static initialiser: detect, extract, load
                    return null;
                });
                loaded = true;
            } catch (RuntimeException | LinkageError | AssertionError e) {
                failure = nativeFailure(e);
                throw failure;
            }
        }
    }

    /**
     * Runs {@code action} with this bundle's class loader as the TCCL, because DJL looks up its resources
     * ({@code native/lib/...}) through the TCCL and only this loader sees the embedded jars. The previous TCCL is
     * restored even when the action fails, so the calling thread (often an SCR or HTTP worker) is left untouched.
     */
    static <T> T withBundleClassLoader(Supplier<T> action) {
        Thread thread = Thread.currentThread();
        ClassLoader previous = thread.getContextClassLoader();
        thread.setContextClassLoader(DjlNatives.class.getClassLoader());
        try {
            return action.get();
        } finally {
            thread.setContextClassLoader(previous);
        }
    }

    /**
     * Sets DJL's offline, tracking and cache settings where nobody has, and refuses settings that would let DJL
     * reach the network. System properties are JVM-wide: a value set by the launcher or another bundle wins, so
     * every part of Arbor that initialises DJL ends up with the same folders.
     */
    static void configureEnvironment() {
        String envOffline = System.getenv("DJL_OFFLINE");
        if (envOffline != null && !Boolean.parseBoolean(envOffline.trim())) {
            throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, "the environment variable DJL_OFFLINE='"
                    + envOffline + "' would let DJL download files, and DJL reads it before the system property "
                    + "ai.djl.offline; Arbor runs DJL offline only: unset DJL_OFFLINE or set it to true");
        }
        String offline = System.getProperty("ai.djl.offline");
        if (offline == null) {
            System.setProperty("ai.djl.offline", "true");
        } else if (!Boolean.parseBoolean(offline.trim())) {
            throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, "the system property ai.djl.offline='"
                    + offline + "' would let DJL download files; Arbor runs DJL offline only: remove it or set it"
                    + " to true");
        }
        if (System.getProperty("OPT_OUT_TRACKING") == null) {
            // Without it (and without offline mode) DJL calls home to the EC2 metadata address (OSGI-NOTES 3.5).
            System.setProperty("OPT_OUT_TRACKING", "true");
        }
        String flavor = Utils.getEnvOrSystemProperty("RUST_FLAVOR");
        if (flavor != null && !flavor.isBlank() && !flavor.trim().equals("cpu")) {
            // An explicit flavour overrides offline mode's "cpu", and CUDA flavours are downloaded, never bundled.
            throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, "RUST_FLAVOR='" + flavor + "' asks DJL for"
                    + " a tokenizers native that " + ARTIFACT + " does not contain and would download; unset it or"
                    + " set it to cpu");
        }
        String arborCache = System.getProperty(ARBOR_CACHE);
        if (arborCache != null && !arborCache.isBlank() && Utils.getEnvOrSystemProperty("DJL_CACHE_DIR") == null) {
            System.setProperty("DJL_CACHE_DIR", Path.of(arborCache.trim(), "djl").toAbsolutePath().toString());
        }
    }

    /** The folder DJL extracts {@code libtokenizers} into, for messages (it follows the settings above). */
    static Path nativeCacheFolder() {
        try {
            return Utils.getEngineCacheDir("tokenizers");
        } catch (RuntimeException e) {
            return null;
        }
    }

    private static ArborException nativeFailure(Throwable error) {
        Throwable root = error;
        StringBuilder chain = new StringBuilder();
        for (Throwable t = error; t != null; t = t.getCause() == t ? null : t.getCause()) {
            root = t;
            if (chain.length() > 0) {
                chain.append(" <- ");
            }
            chain.append(t.getClass().getSimpleName());
            if (t.getMessage() != null) {
                chain.append(": ").append(t.getMessage());
            }
        }
        String platform = System.getProperty("os.name") + " " + System.getProperty("os.arch");
        String all = chain.toString().toLowerCase(Locale.ROOT);
        String hint;
        if (all.contains("already loaded in another classloader")) {
            hint = "a JVM can load a native library into one class loader only, and libtokenizers from this cache"
                    + " folder was already loaded by another one (this bundle was updated or refreshed, or another"
                    + " bundle embeds DJL's tokenizers with the same cache folder). Restart the JVM; keep this bundle"
                    + " long-lived";
        } else if (all.contains("version found in property file") || all.contains("property file")) {
            hint = "native/lib/tokenizers.properties is not visible through the thread context class loader: DJL was"
                    + " first touched on a thread whose TCCL is not this bundle's class loader, or the embedded "
                    + ARTIFACT + " jar is missing from this bundle's Bundle-ClassPath";
        } else if (all.contains("unexpected flavor") || all.contains("unsupported platform")
                || root instanceof UnsatisfiedLinkError) {
            hint = ARTIFACT + " carries natives for linux-x86_64, linux-aarch64, osx-aarch64 and win-x86_64 only,"
                    + " and a native for another platform is never downloaded; set RUST_LIBRARY_PATH to a folder"
                    + " holding a libtokenizers built for this platform";
        } else if (root instanceof NoClassDefFoundError) {
            hint = "a class DJL needs is missing from this bundle (embedded jars: DJL api, tokenizers, gson, JNA,"
                    + " slf4j-api)";
        } else {
            hint = "see the cause";
        }
        return new ArborException(ArborException.Kind.PLUGIN_FAILURE, "the Hugging Face tokenizers native library"
                + " (libtokenizers from " + ARTIFACT + ") failed to load on " + platform + ", cache folder "
                + nativeCacheFolder() + ": " + chain.toString().replaceAll("[.\\s]+$", "") + ". " + hint, error);
    }
}
