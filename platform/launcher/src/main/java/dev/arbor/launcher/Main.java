package dev.arbor.launcher;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import org.osgi.framework.BundleContext;
import org.osgi.framework.ServiceReference;

/**
 * {@code arbor [--home DIR] [--models DIR] COMMAND ...}: starts the runtime, runs one command inside it and exits
 * with its status. Global options come before the command; everything after is the command's.
 */
public final class Main {
    /**
     * System property: {@code temporary} runs a one-shot command in a fresh framework storage deleted at exit (as
     * {@code serve} always runs) instead of a reused one under {@code <arbor.cache>/framework}
     * ({@link ArborFramework#startReusing}).
     */
    static final String STORAGE_PROPERTY = "arbor.launcher.storage";
    /** Commands that run the servers or list every bundle's state: they start every bundle. */
    static final Set<String> SERVER_COMMANDS = Set.of("serve", "bundles");
    /**
     * Bundles a one-shot command does not start (they stay installed and resolvable): the Gogo shell, the Web Console
     * and its inventory, Felix HTTP (the admin server) and Arbor's HTTP, admin and Open Inference Protocol bundles,
     * which only 'serve' uses.
     */
    static final String LAZY_BUNDLES = "org\\.apache\\.felix\\.(gogo\\..*|webconsole|inventory|http\\.jetty12)"
            + "|dev\\.arbor\\.platform\\.(http|admin|oip)";

    private Main() {
    }

    public static void main(String[] args) throws Exception {
        Path home = Path.of(System.getProperty("arbor.home", ".")).toAbsolutePath().normalize();
        Map<String, String> props = new HashMap<>();
        List<String> rest = new ArrayList<>(Arrays.asList(args));
        while (!rest.isEmpty() && rest.get(0).startsWith("--") && rest.size() >= 2
                && (rest.get(0).equals("--home") || rest.get(0).equals("--models"))) {
            String flag = rest.remove(0);
            String value = rest.remove(0);
            if (flag.equals("--home")) {
                home = Path.of(value).toAbsolutePath().normalize();
            } else {
                props.put("arbor.models", Path.of(value).toAbsolutePath().normalize().toString());
            }
        }
        if (!Files.isDirectory(home.resolve("bundles"))) {
            System.err.println("arbor: " + home + " is not an Arbor installation (no bundles/ folder);"
                    + " build it with 'mvn -q install -DskipTests' and run bin/arbor");
            System.exit(1);
        }
        LogLevels.apply(System.getenv());
        props.putIfAbsent("arbor.models", modelsFolder(home));
        props.put("arbor.cache", System.getProperty("arbor.cache", home.resolve("cache").toString()));
        System.setProperty("arbor.cache", props.get("arbor.cache"));
        int status;
        String command = rest.isEmpty() ? "" : rest.get(0);
        if (!SERVER_COMMANDS.contains(command)) {
            // a one-shot command needs no shell, Web Console or HTTP server (see LAZY_BUNDLES)
            props.put(ArborFramework.LAZY_PROPERTY, LAZY_BUNDLES);
        }
        long begin = System.nanoTime();
        // a server runs in a temporary storage deleted when it stops (its configuration, a hashed API key included,
        // never outlives it); one-shot commands reuse a storage slot
        ArborFramework runtime = "serve".equals(command) || "temporary".equals(System.getProperty(STORAGE_PROPERTY))
                ? ArborFramework.start(home, null, props)
                : ArborFramework.startReusing(home, Path.of(props.get("arbor.cache"), "framework"), props);
        StartupTrace.mark("runtime started", begin);
        // SIGTERM / Ctrl-C: stop the framework cleanly (bundles deactivate, the HTTP server closes its port, the
        // temporary framework cache is deleted); a long-running command such as 'serve' returns when it stops
        Thread stopOnSignal = new Thread(() -> stop(runtime), "arbor-shutdown");
        Runtime.getRuntime().addShutdownHook(stopOnSignal);
        // SIGTERM / Ctrl-C stop the framework before the JVM's own shutdown (see GracefulSignals); the hook stays
        // for every other way the JVM ends
        GracefulSignals.install(() -> stop(runtime));
        try {
            Function<String[], Integer> cli = awaitCli(runtime.context(), 20_000);
            if (cli == null) {
                System.err.println("arbor: the runtime did not offer its command line within 20 s;"
                        + " check that bundles/ holds dev.arbor.platform.runtime and its dependencies");
                status = 1;
            } else {
                StartupTrace.mark("command line offered", begin);
                status = cli.apply(rest.toArray(String[]::new));
                StartupTrace.mark("command done", begin);
            }
        } finally {
            if (unregister(stopOnSignal)) {
                stop(runtime);
            }
            // else the JVM is already shutting down and the hook stops the framework
        }
        StartupTrace.mark("runtime stopped", begin);
        System.exit(GracefulSignals.exitStatus(status));
    }

    /** False when the JVM is already shutting down (the hook then runs, or ran). */
    private static boolean unregister(Thread hook) {
        try {
            return Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException shuttingDown) {
            return false;
        }
    }

    private static void stop(ArborFramework runtime) {
        try {
            runtime.close();
        } catch (Exception e) {
            System.err.println("arbor: stopping the runtime failed: " + e);
        }
    }

    /** ARBOR_MODELS, then the shared reference models beside a source checkout, then {@code home/models}. */
    private static String modelsFolder(Path home) {
        String env = System.getenv("ARBOR_MODELS");
        if (env != null && !env.isBlank()) {
            return Path.of(env).toAbsolutePath().normalize().toString();
        }
        String prop = System.getProperty("arbor.models");
        if (prop != null) {
            return prop;
        }
        return home.resolve("models").toString();
    }

    @SuppressWarnings("unchecked")
    static Function<String[], Integer> awaitCli(BundleContext context, long timeoutMillis) throws Exception {
        long deadline = System.nanoTime() + timeoutMillis * 1_000_000L;
        while (System.nanoTime() < deadline) {
            Collection<ServiceReference<Function>> refs = context.getServiceReferences(Function.class,
                    "(arbor.command=cli)");
            if (!refs.isEmpty()) {
                Object service = context.getService(refs.iterator().next());
                if (service != null) {
                    return (Function<String[], Integer>) service;
                }
            }
            Thread.sleep(10);
        }
        return null;
    }
}
