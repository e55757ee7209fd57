package dev.arbor.platform.admin.internal;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.function.UnaryOperator;

/**
 * The one operator account of the admin server. Where it comes from, first match wins: environment variable
 * {@value #PASSWORD_ENV}; {@code etc/admin.json} ({@code {"username": "...", "password": "..."}}, the password in
 * clear or as {@code {sha-256}<base64>} like the Web Console's own form); a password generated earlier in
 * {@code etc/admin-password}; else a new random password written there (owner-only). There is no built-in default.
 * Only a digest of the password is kept in memory.
 */
final class AdminCredentials {
    static final String PASSWORD_ENV = "ARBOR_ADMIN_PASSWORD";
    static final String DEFAULT_USER = "admin";
    private static final String HASH_PREFIX = "{sha-256}";

    private final String username;
    private final byte[] passwordDigest;
    private final String source;
    private final boolean generated;

    private AdminCredentials(String username, byte[] passwordDigest, String source, boolean generated) {
        this.username = username;
        this.passwordDigest = passwordDigest;
        this.source = source;
        this.generated = generated;
    }

    /** Loads (or creates) the credentials for the installation whose configuration folder is {@code etc}. */
    static AdminCredentials load(Path etc, UnaryOperator<String> environment) throws IOException {
        Path json = etc.resolve("admin.json");
        String username = DEFAULT_USER;
        String password = null;
        String source = null;
        if (Files.exists(json)) {
            JsonNode node;
            try {
                node = new ObjectMapper().readTree(json.toFile());
            } catch (IOException e) {
                throw new IOException(json + " is not valid JSON (" + e.getMessage() + "); expected"
                        + " {\"username\": \"...\", \"password\": \"...\"}", e);
            }
            if (node == null || !node.isObject()) {
                throw new IOException(json + " must be a JSON object {\"username\": \"...\", \"password\": \"...\"}");
            }
            username = node.path("username").asText(DEFAULT_USER);
            if (username.isBlank() || username.contains(":")) {
                throw new IOException(json + ": username must be non-empty and contain no ':'");
            }
            if (node.hasNonNull("password")) {
                password = node.get("password").asText();
                source = json.toString();
                warnIfReadableByOthers(json, password);
            }
        }
        String fromEnv = environment.apply(PASSWORD_ENV);
        if (fromEnv != null && !fromEnv.isEmpty()) {
            password = fromEnv;
            source = "environment variable " + PASSWORD_ENV;
        }
        Path generated = etc.resolve("admin-password");
        if (password == null && Files.exists(generated)) {
            password = Files.readString(generated, StandardCharsets.UTF_8).strip();
            source = generated.toString();
        }
        boolean fresh = false;
        if (password == null || password.isEmpty()) {
            password = generate(generated);
            source = "a new random password in " + generated;
            fresh = true;
        }
        byte[] digest = password.startsWith(HASH_PREFIX)
                ? Base64.getDecoder().decode(password.substring(HASH_PREFIX.length()))
                : sha256(password);
        if (digest.length != 32) {
            throw new IOException("the " + HASH_PREFIX + " password from " + source + " is not a base64 SHA-256"
                    + " digest (32 bytes)");
        }
        return new AdminCredentials(username, digest, source, fresh);
    }

    /** A password in clear in a file others may read is no secret: say so (the file is the operator's to fix). */
    private static void warnIfReadableByOthers(Path file, String password) {
        if (password.startsWith(HASH_PREFIX)) {
            return;
        }
        try {
            var permissions = Files.getPosixFilePermissions(file);
            if (permissions.contains(java.nio.file.attribute.PosixFilePermission.GROUP_READ)
                    || permissions.contains(java.nio.file.attribute.PosixFilePermission.OTHERS_READ)) {
                System.getLogger("dev.arbor.admin").log(System.Logger.Level.WARNING, file + " holds the admin"
                        + " password in clear and other users may read it: 'chmod 600 " + file + "', or store"
                        + " " + HASH_PREFIX + "<base64 SHA-256> instead of the password");
            }
        } catch (UnsupportedOperationException | IOException notPosix) {
            // no POSIX permissions to judge
        }
    }

    /** Writes a random password to {@code file}, readable by its owner only, and returns it. */
    private static String generate(Path file) throws IOException {
        byte[] random = new byte[18];
        new SecureRandom().nextBytes(random);
        String password = Base64.getUrlEncoder().withoutPadding().encodeToString(random);
        Files.createDirectories(file.getParent());
        try {
            // created with owner-only permissions from the start: no moment where others could read it
            Files.createFile(file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        } catch (UnsupportedOperationException notPosix) {
            Files.createFile(file);
        } catch (FileAlreadyExistsException raced) {
            throw new IOException(file + " appeared while generating an admin password; start again to use it");
        }
        Files.writeString(file, password + "\n", StandardCharsets.UTF_8, StandardOpenOption.TRUNCATE_EXISTING);
        return password;
    }

    /** True when {@code user}/{@code password} are this account's; compares in constant time. */
    boolean matches(String user, String password) {
        if (user == null || password == null) {
            return false;
        }
        boolean userOk = MessageDigest.isEqual(sha256(user), sha256(username));
        boolean passwordOk = MessageDigest.isEqual(sha256(password), passwordDigest);
        return userOk & passwordOk;
    }

    String username() {
        return username;
    }

    /** True when no password was configured and a new one was just written (the operator must be told where). */
    boolean generated() {
        return generated;
    }

    /** Where the password came from, for the startup log line (never the password itself). */
    String source() {
        return source;
    }

    static byte[] sha256(String s) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("this JVM offers no SHA-256", e);
        }
    }
}
