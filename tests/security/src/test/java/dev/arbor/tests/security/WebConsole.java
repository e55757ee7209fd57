package dev.arbor.tests.security;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.UUID;
import java.util.jar.Attributes;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;

/** What an operator's browser sends to the Felix Web Console, and what the admin REST endpoint tells about bundles. */
final class WebConsole {
    private WebConsole() {
    }

    /**
     * The console's "Install/Update" form: {@code POST /system/console/bundles}, multipart, action=install,
     * bundlestart=start, the jar as {@code bundlefile}; {@code headers} are added (e.g. an Origin). The console
     * installs (or updates a bundle of the same name) and starts in the background, after answering.
     */
    static HttpResponse<String> install(ServedArbor arbor, String fileName, byte[] jar, Map<String, String> headers)
            throws IOException, InterruptedException {
        String boundary = "----arbor" + UUID.randomUUID().toString().replace("-", "");
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        // no bundlestartlevel: above the framework's start level the console would not even try to start the bundle
        for (var field : Map.of("action", "install", "bundlestart", "start").entrySet()) {
            body.writeBytes(("--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + field.getKey()
                    + "\"\r\n\r\n" + field.getValue() + "\r\n").getBytes(StandardCharsets.UTF_8));
        }
        body.writeBytes(("--" + boundary + "\r\nContent-Disposition: form-data; name=\"bundlefile\"; filename=\""
                + fileName + "\"\r\nContent-Type: application/java-archive\r\n\r\n").getBytes(StandardCharsets.UTF_8));
        body.writeBytes(jar);
        body.writeBytes(("\r\n--" + boundary + "--\r\n").getBytes(StandardCharsets.UTF_8));
        HttpRequest.Builder request = arbor.adminRequest("/system/console/bundles")
                .header("Content-Type", "multipart/form-data; boundary=" + boundary)
                .POST(HttpRequest.BodyPublishers.ofByteArray(body.toByteArray()));
        headers.forEach(request::header);
        return arbor.http.send(request.build(), HttpResponse.BodyHandlers.ofString());
    }

    /** The state ("active", "resolved", "installed", ...) of bundle {@code symbolicName}, or null when absent. */
    static String state(ServedArbor arbor, String symbolicName) throws IOException, InterruptedException {
        HttpResponse<String> response = arbor.http.send(arbor.adminRequest("/admin/bundles").GET().build(),
                HttpResponse.BodyHandlers.ofString());
        if (response.statusCode() != 200) {
            throw new IllegalStateException("GET /admin/bundles answered " + response.statusCode());
        }
        for (JsonNode b : new ObjectMapper().readTree(response.body())) {
            if (symbolicName.equals(b.path("symbolicName").asText())) {
                return b.path("state").asText();
            }
        }
        return null;
    }

    /** A bundle with a manifest only: it resolves and starts anywhere, and nothing vouches for it. */
    static byte[] untrustedBundle(String symbolicName) throws IOException {
        Manifest m = new Manifest();
        m.getMainAttributes().put(Attributes.Name.MANIFEST_VERSION, "1.0");
        m.getMainAttributes().putValue("Bundle-ManifestVersion", "2");
        m.getMainAttributes().putValue("Bundle-SymbolicName", symbolicName);
        m.getMainAttributes().putValue("Bundle-Version", "1.0.0");
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (JarOutputStream jar = new JarOutputStream(out, m)) {
            jar.flush();
        }
        return out.toByteArray();
    }
}
