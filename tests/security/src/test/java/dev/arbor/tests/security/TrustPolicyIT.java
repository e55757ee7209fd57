package dev.arbor.tests.security;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.Map;
import java.util.concurrent.Callable;
import org.junit.jupiter.api.Test;

/**
 * One trust policy for every way code gets in: a jar uploaded through the Web Console runs only if the trust policy
 * ({@code etc/trust/trusted-bundles.sha256}) lists its SHA-256, exactly as for {@code deploy/}; the refusal and the
 * install are logged at the default log level.
 */
class TrustPolicyIT extends PrivatelyServed {
    @Test
    void anUntrustedJarInstalledThroughTheWebConsoleNeverResolvesAndTheRefusalIsLogged() throws Exception {
        String name = "dev.arbor.test.untrusted.console";
        HttpResponse<String> response = WebConsole.install(arbor, "untrusted.jar", WebConsole.untrustedBundle(name),
                Map.of());
        assertThat(response.statusCode()).as(response.body()).isLessThan(400);
        // the console installs in the background, then starts: wait for the refusal, then for its start attempt
        await(() -> arbor.log().contains("refused bundle " + name), () -> "the refusal in the log:\n" + arbor.log());
        await(() -> WebConsole.state(arbor, name) != null, () -> "the console to install " + name);
        Thread.sleep(2_000);
        assertThat(WebConsole.state(arbor, name)).as("an untrusted bundle must never resolve or run")
                .isEqualTo("installed");
        assertThat(arbor.log()).contains("is not listed in " + home.resolve("etc/trust/trusted-bundles.sha256"));
    }

    @Test
    void aTrustedJarInstalledThroughTheWebConsoleStartsAndTheInstallIsLogged() throws Exception {
        Path jar = ServedArbor.distribution().getParent().resolve("test-bundles/runner-up-selector.jar");
        byte[] bytes = Files.readAllBytes(jar);
        String digest = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        Files.writeString(home.resolve("etc/trust/trusted-bundles.sha256"), digest + "  runner-up-selector.jar\n",
                StandardOpenOption.APPEND);
        HttpResponse<String> response = WebConsole.install(arbor, "runner-up-selector.jar", bytes, Map.of());
        assertThat(response.statusCode()).as(response.body()).isLessThan(400);
        await(() -> "active".equals(WebConsole.state(arbor, "dev.arbor.test.runnerup")),
                () -> "the trusted bundle to start; log:\n" + arbor.log());
        assertThat(arbor.log()).contains("installed bundle dev.arbor.test.runnerup").contains(digest);
    }

    static void await(Callable<Boolean> condition, Callable<String> what) throws Exception {
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (!condition.call()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for " + what.call());
            }
            Thread.sleep(100);
        }
    }
}
