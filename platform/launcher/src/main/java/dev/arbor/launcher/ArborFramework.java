package dev.arbor.launcher;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.stream.Stream;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.framework.BundleException;
import org.osgi.framework.Constants;
import org.osgi.framework.launch.Framework;
import org.osgi.framework.launch.FrameworkFactory;

/**
 * An embedded Felix holding an Arbor installation: {@code bundles/} (installed and started in name order),
 * {@code deploy/} (watched by fileinstall: drop a bundle in, it starts; delete it, it goes), {@code etc/}
 * (pipeline files). Used by the launcher and by in-framework tests.
 */
public final class ArborFramework implements AutoCloseable {
    private final Framework framework;
    private final Path storage;
    private final boolean deleteStorage;

    private ArborFramework(Framework framework, Path storage, boolean deleteStorage) {
        this.framework = framework;
        this.storage = storage;
        this.deleteStorage = deleteStorage;
    }

    /**
     * Starts a framework for the installation at {@code home}; {@code extra} adds or overrides framework
     * properties. {@code storage} null = a fresh temporary cache deleted on close (each command runs clean and
     * concurrent commands never share a cache).
     */
    public static ArborFramework start(Path home, Path storage, Map<String, String> extra)
            throws IOException, BundleException {
        NoPhoningHome.apply();
        boolean temporary = storage == null;
        Path cache = temporary ? Files.createTempDirectory("arbor-felix-") : storage;
        Path deploy = home.resolve("deploy");
        Files.createDirectories(deploy);
        Map<String, String> config = new HashMap<>();
        config.put(Constants.FRAMEWORK_STORAGE, cache.toString());
        config.put(Constants.FRAMEWORK_STORAGE_CLEAN, Constants.FRAMEWORK_STORAGE_CLEAN_ONFIRSTINIT);
        config.put("felix.log.level", "1");
        config.put("felix.fileinstall.dir", deploy.toString());
        config.put("felix.fileinstall.poll", "500");
        config.put("felix.fileinstall.noInitialDelay", "true");
        config.put("felix.fileinstall.bundles.new.start", "true");
        config.put("felix.fileinstall.log.level", "2");
        config.put("gosh.args", "--nointeractive");
        // keep delayed components (part factories) alive between requests instead of disposing them whenever the
        // last request releases them: activation per request would be wasted work
        config.put("ds.delayed.keepInstances", "true");
        config.put("arbor.home", home.toString());
        config.put("arbor.etc", home.resolve("etc").toString());
        config.putAll(extra);
        FrameworkFactory factory = ServiceLoader.load(FrameworkFactory.class).iterator().next();
        Framework framework = factory.newFramework(config);
        framework.init();
        framework.start();
        BundleContext ctx = framework.getBundleContext();
        List<Bundle> installed = new ArrayList<>();
        List<Path> jars;
        try (Stream<Path> files = Files.list(home.resolve("bundles"))) {
            jars = files.filter(p -> p.toString().endsWith(".jar")).sorted(Comparator.naturalOrder()).toList();
        }
        String skip = extra.getOrDefault("arbor.launcher.skip", "");
        for (Path jar : jars) {
            if (!skip.isEmpty() && jar.getFileName().toString().matches(skip)) {
                continue;
            }
            installed.add(ctx.installBundle(jar.toUri().toString()));
        }
        for (Bundle b : installed) {
            if (b.getHeaders().get(Constants.FRAGMENT_HOST) == null) {
                try {
                    b.start();
                } catch (BundleException e) {
                    // one broken bundle must not keep the rest of the runtime down; say which and why
                    System.err.println("arbor: bundle " + b.getSymbolicName() + " did not start: " + e.getMessage());
                }
            }
        }
        return new ArborFramework(framework, cache, temporary);
    }

    public Framework framework() {
        return framework;
    }

    public BundleContext context() {
        return framework.getBundleContext();
    }

    @Override
    public void close() throws Exception {
        framework.stop();
        framework.waitForStop(30_000);
        if (deleteStorage) {
            try (Stream<Path> walk = Files.walk(storage)) {
                walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }
}
