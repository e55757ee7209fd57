package dev.arbor.platform.oip.internal;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.Base64;
import java.util.Map;

/**
 * The API key of configuration {@code dev.arbor.http} as the HTTP server reads it: {@code api_key_hash} in LDAP's
 * {@code {SSHA256}} form, {@code base64(SHA-256(key || salt) || salt)} (what {@code arbor serve} writes), or a clear
 * {@code api_key}. Presented keys are compared by digest, in time independent of where they differ.
 */
final class ApiKeyCheck {
    private static final String PREFIX = "{SSHA256}";
    private static final int DIGEST_BYTES = 32;

    private final byte[] digest;
    private final byte[] salt;

    private ApiKeyCheck(byte[] digest, byte[] salt) {
        this.digest = digest;
        this.salt = salt;
    }

    /** The configured key, or null when the server is open. */
    static ApiKeyCheck from(Map<String, ?> config) {
        String hash = Settings.string(config, "api_key_hash", "").strip();
        if (!hash.isEmpty()) {
            byte[] raw;
            try {
                raw = hash.startsWith(PREFIX) ? Base64.getDecoder().decode(hash.substring(PREFIX.length())) : null;
            } catch (IllegalArgumentException e) {
                raw = null;
            }
            if (raw == null || raw.length <= DIGEST_BYTES) {
                throw new IllegalArgumentException("configuration api_key_hash must be " + PREFIX
                        + "base64(SHA-256(key || salt) || salt), as 'arbor serve' writes it");
            }
            return new ApiKeyCheck(Arrays.copyOf(raw, DIGEST_BYTES), Arrays.copyOfRange(raw, DIGEST_BYTES,
                    raw.length));
        }
        String clear = Settings.string(config, "api_key", "");
        if (clear.isEmpty()) {
            return null;
        }
        byte[] salt = new byte[16];
        new java.security.SecureRandom().nextBytes(salt);
        return new ApiKeyCheck(digest(clear, salt), salt);
    }

    boolean matches(String presented) {
        return presented != null && MessageDigest.isEqual(digest, digest(presented, salt));
    }

    private static byte[] digest(String key, byte[] salt) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            sha.update(key.getBytes(StandardCharsets.UTF_8));
            sha.update(salt);
            return sha.digest();
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JRE has no SHA-256", e);
        }
    }

    @Override
    public String toString() {
        return PREFIX + "...";
    }
}
