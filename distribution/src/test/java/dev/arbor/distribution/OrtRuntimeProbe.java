package dev.arbor.distribution;

import java.lang.reflect.InvocationTargetException;

/**
 * A plain JVM (no bin/arbor, no launcher) asking {@code OrtRuntime} for the ONNX Runtime environment: prints
 * "ready VERSION", or "refused: MESSAGE" when creating it could crash this process. Run by {@link NativeNoiseIT} with
 * the forge's class path; reflective because ONNX Runtime's classes are not on this module's test class path.
 */
public final class OrtRuntimeProbe {
    private OrtRuntimeProbe() {
    }

    public static void main(String[] args) throws ReflectiveOperationException {
        try {
            Object env = Class.forName("dev.arbor.onnxruntime.runtime.OrtRuntime").getMethod("environment")
                    .invoke(null);
            System.out.println("ready " + env.getClass().getMethod("getVersion").invoke(env));
        } catch (InvocationTargetException e) {
            if (!(e.getCause() instanceof IllegalStateException refused)) {
                throw e;
            }
            System.out.println("refused: " + refused.getMessage());
        }
    }
}
