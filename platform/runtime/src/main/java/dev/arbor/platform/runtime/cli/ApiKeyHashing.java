package dev.arbor.platform.runtime.cli;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.Base64;

/**
 * The form in which {@code arbor serve} hands the API key to the HTTP server's configuration (which Config Admin
 * persists in the framework storage): LDAP's salted {@code {SSHA256}base64(SHA-256(key || salt) || salt)}, never
 * the key. The HTTP bundle verifies this form (its {@code ApiKeyHash}); the two must agree.
 */
final class ApiKeyHashing {
    static final String PREFIX = "{SSHA256}";

    private ApiKeyHashing() {
    }

    /** The salted hash of {@code key} under a fresh random 16-byte salt. */
    static String hash(String key) {
        byte[] salt = new byte[16];
        new SecureRandom().nextBytes(salt);
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            sha.update(key.getBytes(StandardCharsets.UTF_8));
            sha.update(salt);
            byte[] digest = sha.digest();
            byte[] raw = new byte[digest.length + salt.length];
            System.arraycopy(digest, 0, raw, 0, digest.length);
            System.arraycopy(salt, 0, raw, digest.length, salt.length);
            return PREFIX + Base64.getEncoder().encodeToString(raw);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JRE has no SHA-256", e);
        }
    }
}
