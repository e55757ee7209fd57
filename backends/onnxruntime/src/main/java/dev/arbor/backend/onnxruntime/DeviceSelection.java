package dev.arbor.backend.onnxruntime;

import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtProvider;
import ai.onnxruntime.OrtSession;
import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.onnxruntime.runtime.OrtRuntime;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.Locale;
import java.util.logging.Logger;

/**
 * Builds the {@link OrtSession.SessionOptions} for a model from the spec's options:
 * {@code device} = {@code cpu} (default) or {@code cuda}, {@code device_id} (default 0),
 * {@code allow_cpu_fallback} (default false), {@code intra_op_threads} (default 0 = ONNX Runtime's choice) and
 * {@code allow_spinning} (default: ONNX Runtime's, which spins its worker threads between runs; false frees the cores
 * for the request threads, which matters when many requests share few cores).
 * Asking for CUDA where it cannot work is an error that says what failed and how to get CUDA, because a silent CPU
 * fallback would turn a configuration mistake into a 10-100x slowdown nobody notices.
 */
final class DeviceSelection {
    private static final Logger LOG = Logger.getLogger(DeviceSelection.class.getName());
    static final String HOW_TO_GET_CUDA = "To run on CUDA, build the ONNX Runtime bundle with the GPU build "
            + "(mvn install -pl backends/onnxruntime-runtime -Pcuda, which embeds com.microsoft.onnxruntime:"
            + "onnxruntime_gpu) and run on a machine with an NVIDIA GPU and the CUDA 12 and cuDNN 9 libraries on the "
            + "library path; or set option allow_cpu_fallback=true to run on the CPU instead.";

    /** The device a session finally runs on, for the model card name and logs. */
    record Choice(OrtSession.SessionOptions options, String device) {
    }

    private DeviceSelection() {
    }

    /** Session options for {@code file}; the caller closes them once the session exists. */
    static Choice sessionOptions(Path file, Options options) {
        String device = options.string("device", "cpu").trim().toLowerCase(Locale.ROOT);
        if (!device.equals("cpu") && !device.equals("cuda")) {
            throw ArborException.invalid("option 'device' must be 'cpu' or 'cuda', got '" + device + "'");
        }
        int deviceId = options.integer("device_id", 0, 0, 1024);
        boolean fallback = options.bool("allow_cpu_fallback", false);
        int threads = options.integer("intra_op_threads", 0, 0, 4096);
        Boolean spinning = options.has("allow_spinning") ? options.bool("allow_spinning", true) : null;
        OrtSession.SessionOptions so = new OrtSession.SessionOptions();
        try {
            so.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
            so.setSessionLogLevel(OrtRuntime.logLevel()); // the session's native log lines, as the user chose
            if (threads > 0) {
                so.setIntraOpNumThreads(threads);
            }
            if (spinning != null) {
                so.addConfigEntry("session.intra_op.allow_spinning", spinning ? "1" : "0");
            }
            if (device.equals("cpu")) {
                return new Choice(so, "cpu");
            }
            String failure = cudaFailure(so, deviceId);
            if (failure == null) {
                return new Choice(so, "cuda:" + deviceId);
            }
            if (!fallback) {
                throw new ArborException(ArborException.Kind.INCOMPATIBLE, "device=cuda (device_id " + deviceId
                        + ") was requested for model '" + file + "' but " + failure + ". " + HOW_TO_GET_CUDA);
            }
            LOG.warning(() -> "device=cuda requested for '" + file + "' but " + failure
                    + "; running on the CPU because allow_cpu_fallback=true");
            so.close();
            so = new OrtSession.SessionOptions();
            so.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
            so.setSessionLogLevel(OrtRuntime.logLevel()); // the session's native log lines, as the user chose
            if (threads > 0) {
                so.setIntraOpNumThreads(threads);
            }
            if (spinning != null) {
                so.addConfigEntry("session.intra_op.allow_spinning", spinning ? "1" : "0");
            }
            return new Choice(so, "cpu (cuda unavailable)");
        } catch (OrtException e) {
            so.close();
            throw ArborException.badModel("cannot configure an ONNX Runtime session for '" + file + "': "
                    + e.getMessage(), e);
        } catch (RuntimeException e) {
            so.close();
            throw e;
        }
    }

    /** Null when the CUDA provider was added to {@code so}, else what went wrong, in words. */
    private static String cudaFailure(OrtSession.SessionOptions so, int deviceId) {
        EnumSet<OrtProvider> available = OrtEnvironment.getAvailableProviders();
        if (!available.contains(OrtProvider.CUDA)) {
            return "the loaded ONNX Runtime build has no CUDA execution provider (available providers: " + available
                    + "; the default bundle embeds the CPU-only onnxruntime jar)";
        }
        try {
            so.addCUDA(deviceId);
            return null;
        } catch (OrtException | RuntimeException | UnsatisfiedLinkError e) {
            return "adding the CUDA execution provider for device " + deviceId + " failed: " + e.getMessage();
        }
    }
}
