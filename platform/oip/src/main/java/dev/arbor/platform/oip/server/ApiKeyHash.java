package dev.arbor.platform.oip.server;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.Base64;
import java.util.Map;

/**
 * The API key as the server keeps it: a salted SHA-256 in LDAP's {@code {SSHA256}} form,
 * {@code {SSHA256}base64(SHA-256(key || salt) || salt)}, never the key itself, so neither the Config Admin file in the
 * framework storage nor the Web Console's configuration page can show it. {@code arbor serve} writes this form
 * (configuration {@value #CONFIG_KEY} of {@code dev.arbor.http}); the HTTP and gRPC front ends check keys with it.
 */
public final class ApiKeyHash {
    /** The configuration property that holds the stored form. */
    public static final String CONFIG_KEY = "api_key_hash";
    public static final String PREFIX = "{SSHA256}";
    private static final int DIGEST_BYTES = 32;
    private static final int SALT_BYTES = 16;

    private final byte[] digest;
    private final byte[] salt;

    private ApiKeyHash(byte[] digest, byte[] salt) {
        this.digest = digest;
        this.salt = salt;
    }

    /** The hash of {@code key} under a fresh random salt. */
    public static ApiKeyHash of(String key) {
        byte[] salt = new byte[SALT_BYTES];
        new SecureRandom().nextBytes(salt);
        return new ApiKeyHash(digest(key, salt), salt);
    }

    /**
     * The key a front end checks, from configuration {@code dev.arbor.http}: the stored form of {@value #CONFIG_KEY},
     * else the hash of a clear {@code api_key}; null when neither is set (the server is open).
     */
    public static ApiKeyHash fromConfiguration(Map<String, ?> config) {
        Object hash = config.get(CONFIG_KEY);
        if (hash != null && !String.valueOf(hash).isBlank()) {
            return parse(String.valueOf(hash));
        }
        Object clear = config.get("api_key");
        return clear == null || String.valueOf(clear).isEmpty() ? null : of(String.valueOf(clear));
    }

    /** Reads the stored form; the message of the exception says what was expected, never echoes the value. */
    public static ApiKeyHash parse(String stored) {
        String s = stored.strip();
        byte[] raw;
        try {
            raw = s.startsWith(PREFIX) ? Base64.getDecoder().decode(s.substring(PREFIX.length())) : null;
        } catch (IllegalArgumentException e) {
            raw = null;
        }
        if (raw == null || raw.length <= DIGEST_BYTES) {
            throw new IllegalArgumentException("configuration " + CONFIG_KEY + " must be "
                    + PREFIX + "base64(SHA-256(key || salt) || salt), as 'arbor serve' writes it");
        }
        return new ApiKeyHash(Arrays.copyOf(raw, DIGEST_BYTES), Arrays.copyOfRange(raw, DIGEST_BYTES, raw.length));
    }

    /** True when {@code presented} is the key; the time taken does not depend on where the bytes differ. */
    public boolean matches(String presented) {
        return presented != null && MessageDigest.isEqual(digest, digest(presented, salt));
    }

    /** The stored form. */
    public String encoded() {
        byte[] raw = Arrays.copyOf(digest, DIGEST_BYTES + salt.length);
        System.arraycopy(salt, 0, raw, DIGEST_BYTES, salt.length);
        return PREFIX + Base64.getEncoder().encodeToString(raw);
    }

    /** Never the digest: settings may end up in a log line. */
    @Override
    public String toString() {
        return PREFIX + "...";
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
}
