package dev.arbor.tokenizer.huggingface;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.PartProperties;
import dev.arbor.api.tokenizer.Tokenizer;
import dev.arbor.api.tokenizer.TokenizerProvider;
import dev.arbor.testkit.SharedModels;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.framework.Constants;
import org.osgi.framework.FrameworkUtil;
import org.osgi.framework.ServiceReference;
import org.osgi.framework.launch.Framework;
import org.osgi.framework.launch.FrameworkFactory;

/**
 * The bundle as built ({@code target/*.jar}) inside a real Felix 7.0.5 with SCR, with no network and no DJL on
 * the test classpath (the Surefire execution excludes it): the tokenizer must come from the bundle's embedded jars
 * and its native library must be extracted from them, through the bundle's own class loader, into
 * {@code ${arbor.cache}/djl}. Runs in the {@code integration-test} phase, after {@code package}.
 */
class HuggingFaceTokenizerInFelixIT {
    private static final String BSN = "dev.arbor.tokenizer.huggingface";

    @Test
    void servesGpt2TokenizerFromTheBuiltBundle() throws Exception {
        Path gpt2 = SharedModels.require("tiny-random-gpt2/tokenizer.json");
        Path bundleJar = Path.of(System.getProperty("arbor.it.bundle"));
        Path work = Path.of(System.getProperty("arbor.it.work"));
        assertThat(bundleJar).as("bundle jar built by `package`").isRegularFile();
        deleteTree(work);
        Files.createDirectories(work);
        assertThat(canLoad("ai.djl.huggingface.tokenizers.HuggingFaceTokenizer"))
                .as("DJL must not be on the test classpath, or this test proves nothing").isFalse();

        System.setProperty(DjlNatives.ARBOR_CACHE, work.resolve("cache").toString());
        Map<String, String> config = new HashMap<>();
        config.put(Constants.FRAMEWORK_STORAGE, work.resolve("felix-cache").toString());
        config.put(Constants.FRAMEWORK_STORAGE_CLEAN, Constants.FRAMEWORK_STORAGE_CLEAN_ONFIRSTINIT);
        // The API comes from the test classpath, so the test and the bundle share its classes; it is exported at the
        // versions the built bundle imports (this test is about the embedded tokenizer, not API versioning).
        config.put(Constants.FRAMEWORK_SYSTEMPACKAGES_EXTRA, "dev.arbor.api;version=" + importedVersion(bundleJar,
                "dev.arbor.api") + ",dev.arbor.api.tokenizer;version=" + importedVersion(bundleJar,
                "dev.arbor.api.tokenizer"));
        Framework framework = ServiceLoader.load(FrameworkFactory.class).iterator().next().newFramework(config);
        framework.init();
        framework.start();
        Thread thread = Thread.currentThread();
        ClassLoader previousTccl = thread.getContextClassLoader();
        try {
            BundleContext context = framework.getBundleContext();
            List<Bundle> installed = new ArrayList<>();
            for (String prefix : List.of("org.osgi.util.function-", "org.osgi.util.promise-",
                    "org.osgi.service.component-", "org.apache.felix.scr-")) {
                installed.add(context.installBundle(testClasspathJar(prefix).toUri().toString()));
            }
            Bundle tokenizerBundle = context.installBundle(bundleJar.toUri().toString());
            installed.add(tokenizerBundle);
            for (Bundle bundle : installed) {
                bundle.start();
            }
            assertThat(tokenizerBundle.getSymbolicName()).isEqualTo(BSN);
            assertThat(tokenizerBundle.getState()).isEqualTo(Bundle.ACTIVE);
            assertThat(tokenizerBundle.getHeaders().get(Constants.EXPORT_PACKAGE))
                    .as("DJL stays private to this bundle").isNull();

            ServiceReference<TokenizerProvider> reference = awaitProvider(context);
            TokenizerProvider provider = context.getService(reference);
            // A TCCL that sees nothing of DJL, as on an SCR or HTTP worker thread: the bundle must set its own.
            thread.setContextClassLoader(ClassLoader.getPlatformClassLoader());
            Tokenizer tokenizer = provider.open(gpt2, Options.empty());
            assertThat(thread.getContextClassLoader()).isSameAs(ClassLoader.getPlatformClassLoader());

            assertThat(FrameworkUtil.getBundle(tokenizer.getClass())).isEqualTo(tokenizerBundle);
            assertThat(tokenizer.encode("Hello world", true)).containsExactly(15496, 995);
            assertThat(tokenizer.encode(" Hello", false)).containsExactly(18435);
            assertThat(tokenizer.decode(new int[] {15496, 50256, 995})).isEqualTo("Hello world");
            String text = "café 日本語 🚀\n\tok  ";
            assertThat(tokenizer.decode(tokenizer.encode(text, false))).isEqualTo(text);
            assertThat(tokenizer.vocabSize()).isEqualTo(50295);
            assertThat(tokenizer.eosTokenId()).hasValue(50256);

            try (Stream<Path> files = Files.walk(work.resolve("cache/djl/tokenizers"))) {
                assertThat(files.map(p -> p.getFileName().toString()))
                        .as("libtokenizers extracted from the bundle into ${arbor.cache}/djl")
                        .contains(System.mapLibraryName("tokenizers"));
            }

            // Stopping the bundle deactivates the provider, which frees the native tokenizer safely.
            tokenizerBundle.stop();
            assertThat(context.getServiceReferences(TokenizerProvider.class, null)).isEmpty();
            assertThatThrownBy(() -> tokenizer.encode("Hello", false))
                    .isInstanceOfSatisfying(ArborException.class,
                            e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.UNAVAILABLE));
        } finally {
            thread.setContextClassLoader(previousTccl);
            framework.stop();
            framework.waitForStop(10_000);
            System.clearProperty(DjlNatives.ARBOR_CACHE);
        }
    }

    private static ServiceReference<TokenizerProvider> awaitProvider(BundleContext context) throws Exception {
        String filter = "(" + PartProperties.NAME + "=huggingface)";
        // a registration that must come: the deadline only ends a broken run, so it allows for a loaded machine
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (System.nanoTime() < deadline) {
            Collection<ServiceReference<TokenizerProvider>> found =
                    context.getServiceReferences(TokenizerProvider.class, filter);
            if (!found.isEmpty()) {
                return found.iterator().next();
            }
            Thread.sleep(20);
        }
        throw new AssertionError("no TokenizerProvider " + filter + " registered within 60 s");
    }

    /** A jar of the test classpath (Surefire's real classpath, not its manifest-only booter jar). */
    private static Path testClasspathJar(String fileNamePrefix) {
        String classpath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        return Arrays.stream(classpath.split(File.pathSeparator))
                .map(Path::of)
                .filter(p -> p.getFileName().toString().startsWith(fileNamePrefix))
                .findFirst()
                .orElseThrow(() -> new AssertionError(fileNamePrefix + "*.jar is not on the test classpath"));
    }

    /** The lower bound of the bundle's Import-Package range for {@code pkg}, e.g. 1.2.0 of "[1.2,2)". */
    private static String importedVersion(Path bundleJar, String pkg) throws IOException {
        try (java.util.jar.JarFile jar = new java.util.jar.JarFile(bundleJar.toFile())) {
            String imports = jar.getManifest().getMainAttributes().getValue(Constants.IMPORT_PACKAGE);
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("(?:^|,)" + java.util.regex.Pattern.quote(pkg)
                    + ";version=\"\\[?([0-9.]+)").matcher(imports);
            assertThat(m.find()).as("%s imports %s: %s", bundleJar, pkg, imports).isTrue();
            return m.group(1);
        }
    }

    private static boolean canLoad(String className) {
        try {
            Class.forName(className, false, HuggingFaceTokenizerInFelixIT.class.getClassLoader());
            return true;
        } catch (ClassNotFoundException e) {
            return false;
        }
    }

    private static void deleteTree(Path root) throws IOException {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(root)) {
            for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(path);
            }
        }
    }
}
