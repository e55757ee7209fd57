package dev.arbor.platform.runtime.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.Base64;
import org.junit.jupiter.api.Test;

/** {@code arbor serve} hands the HTTP server {SSHA256}base64(SHA-256(key || salt) || salt), never the key. */
class ApiKeyHashingTest {
    @Test
    void theStoredFormIsASaltedSha256OfTheKey() throws Exception {
        String stored = ApiKeyHashing.hash("sk-live-key");
        assertThat(stored).startsWith("{SSHA256}").doesNotContain("sk-live-key");
        byte[] raw = Base64.getDecoder().decode(stored.substring("{SSHA256}".length()));
        assertThat(raw).hasSize(48);
        byte[] salt = Arrays.copyOfRange(raw, 32, 48);
        MessageDigest sha = MessageDigest.getInstance("SHA-256");
        sha.update("sk-live-key".getBytes(StandardCharsets.UTF_8));
        sha.update(salt);
        assertThat(Arrays.copyOf(raw, 32)).isEqualTo(sha.digest());
        assertThat(ApiKeyHashing.hash("sk-live-key")).as("a fresh salt each time").isNotEqualTo(stored);
    }
}
