package dev.arbor.testkit.framework;

import dev.arbor.api.Options;
import java.io.IOException;
import java.io.InputStream;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.jar.JarFile;
import java.util.jar.Manifest;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The API packages with the versions the API bundle exports, read from its own manifest, for a framework whose
 * system bundle exports the API from the test class path: a hand-kept list goes stale with every API change and
 * then no bundle resolves.
 */
final class ApiExports {
    private static final Pattern VERSION = Pattern.compile(";\\s*version\\s*=\\s*\"?([0-9.]+)\"?");

    private ApiExports() {
    }

    /**
     * {@code dev.arbor.api;version=X,dev.arbor.api.model;version=Y,...,dev.arbor.backend.support;version=Z} as the API
     * jar exports them.
     */
    static String packages() {
        String exports = manifest().getMainAttributes().getValue("Export-Package");
        if (exports == null) {
            throw new IllegalStateException("the API on the class path has no Export-Package header");
        }
        List<String> out = new ArrayList<>();
        for (String clause : clauses(exports)) {
            String name = clause.split(";", 2)[0].trim();
            Matcher v = VERSION.matcher(clause);
            // every package the API bundle exports: dev.arbor.api.* and the backends' dev.arbor.backend.support
            if (name.startsWith("dev.arbor.") && v.find()) {
                out.add(name + ";version=" + v.group(1));
            }
        }
        return String.join(",", out);
    }

    /** The clauses of a manifest header: split at commas outside quotes (uses:="a,b"). */
    static List<String> clauses(String header) {
        List<String> out = new ArrayList<>();
        StringBuilder current = new StringBuilder();
        boolean quoted = false;
        for (char c : header.toCharArray()) {
            if (c == '"') {
                quoted = !quoted;
            }
            if (c == ',' && !quoted) {
                out.add(current.toString());
                current.setLength(0);
            } else {
                current.append(c);
            }
        }
        out.add(current.toString());
        return out;
    }

    private static Manifest manifest() {
        try {
            Path location = Path.of(Options.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            if (Files.isDirectory(location)) {
                try (InputStream in = Files.newInputStream(location.resolve("META-INF/MANIFEST.MF"))) {
                    return new Manifest(in);
                }
            }
            try (JarFile jar = new JarFile(location.toFile())) {
                return jar.getManifest();
            }
        } catch (IOException | URISyntaxException e) {
            throw new IllegalStateException("cannot read the API bundle's manifest: " + e, e);
        }
    }
}
