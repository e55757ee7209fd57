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
}
