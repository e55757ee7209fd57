package dev.arbor.distribution;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Test bundles derived from the built ones. */
final class TestJars {
    private TestJars() {
    }

    /** The same bundle with the version range of one Import-Package replaced: built against another API. */
    static void withImportRange(Path source, String pkg, String range, Path target) throws IOException {
        try (java.util.jar.JarFile in = new java.util.jar.JarFile(source.toFile())) {
            java.util.jar.Manifest manifest = new java.util.jar.Manifest(in.getManifest());
            java.util.jar.Attributes main = manifest.getMainAttributes();
            String imports = main.getValue("Import-Package");
            String changed = imports.replaceAll(java.util.regex.Pattern.quote(pkg) + ";version=\"[^\"]*\"",
                    pkg + ";version=\"" + range + "\"");
            assertThat(changed).as("the test bundle imports " + pkg + " with a version range").isNotEqualTo(imports);
            main.putValue("Import-Package", changed);
            try (java.util.jar.JarOutputStream out = new java.util.jar.JarOutputStream(Files.newOutputStream(target),
                    manifest)) {
                for (java.util.jar.JarEntry e : java.util.Collections.list(in.entries())) {
                    if (e.getName().equals("META-INF/MANIFEST.MF")) {
                        continue;
                    }
                    out.putNextEntry(new java.util.zip.ZipEntry(e.getName()));
                    in.getInputStream(e).transferTo(out);
                    out.closeEntry();
                }
            }
        }
    }

    /** A copy of {@code jar} whose manifest says {@code Bundle-Version: version} (another build, another digest). */
    static Path withVersion(Path jar, Path target, String version) throws IOException {
        try (java.io.InputStream in = Files.newInputStream(jar);
             java.util.jar.JarInputStream source = new java.util.jar.JarInputStream(in)) {
            java.util.jar.Manifest manifest = new java.util.jar.Manifest(source.getManifest());
            manifest.getMainAttributes().put(new java.util.jar.Attributes.Name("Bundle-Version"), version);
            try (java.io.OutputStream out = Files.newOutputStream(target);
                 java.util.jar.JarOutputStream copy = new java.util.jar.JarOutputStream(out, manifest)) {
                for (java.util.jar.JarEntry e = source.getNextJarEntry(); e != null; e = source.getNextJarEntry()) {
                    copy.putNextEntry(new java.util.jar.JarEntry(e.getName()));
                    source.transferTo(copy);
                    copy.closeEntry();
                }
            }
        }
        return target;
    }
}
