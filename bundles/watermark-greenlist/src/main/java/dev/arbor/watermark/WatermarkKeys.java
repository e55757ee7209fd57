package dev.arbor.watermark;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;
import java.util.TreeMap;

/**
 * Watermark keys are configuration, never code (issue 5, item 5): there is no built-in key, a missing key is refused
 * with a message that tells the operator where to set it, and a key is named in reports and refusals only by its key
 * id, which identifies it without revealing it.
 *
 * <p><b>Key id</b>: the first 16 hex characters (64 bits) of SHA-256 over the UTF-8 bytes of
 * {@code "arbor-watermark-key-id/v1\n" + scheme + "\n" + name=value lines of the scheme's parameters sorted by name
 * + "key=" + key}. Only parameters that change which tokens are green belong in it (not the bias, not the detection
 * threshold), so the generating processor and its detector have the same key id.
 */
public final class WatermarkKeys {
    /** The option by which a caller asks a detector to check text against one specific key. */
    public static final String KEY_ID = "key_id";

    private WatermarkKeys() {
    }

    /**
     * The key option {@code option} of part {@code part}, required and non-blank; refused with INVALID_INPUT
     * otherwise, with a message naming the option, the part and where to configure it (never the value).
     */
    public static String requireKey(Options options, String option, String part, String example) {
        Object raw = options.raw(option).orElse(null);
        if (raw == null || raw.toString().isBlank()) {
            throw ArborException.invalid("part '" + part + "' needs option '" + option + "' (the watermark key; "
                    + "there is no built-in key): set it in the part's options in the pipeline file, from a variable "
                    + "so that the secret stays out of the file, e.g. \"" + option + "\": \"${arbor.watermark.key}\" "
                    + "with -Darbor.watermark.key=" + example + " or the environment variable ARBOR_WATERMARK_KEY");
        }
        return raw.toString().trim();
    }

    /** The key id of {@code key} under {@code scheme} with {@code parameters} (see the class comment). */
    public static String keyId(String scheme, Map<String, ?> parameters, String key) {
        StringBuilder text = new StringBuilder("arbor-watermark-key-id/v1\n").append(scheme).append('\n');
        new TreeMap<>(parameters).forEach((k, v) -> text.append(k).append('=').append(v).append('\n'));
        text.append("key=").append(key);
        try {
            byte[] hash = MessageDigest.getInstance("SHA-256").digest(text.toString().getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(hash).substring(0, 16);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is required of every Java platform", e);
        }
    }

    /**
     * Refuses (INVALID_INPUT) when {@code options} hold a {@link #KEY_ID} that differs from {@code configured}: the
     * caller meant another key, and scoring with this one would report a meaningless "not watermarked".
     */
    public static void checkRequestedKeyId(Options options, String configured, String part) {
        Object requested = options.raw(KEY_ID).orElse(null);
        if (requested == null || requested.toString().isBlank()) {
            return;
        }
        String wanted = requested.toString().trim().toLowerCase(java.util.Locale.ROOT);
        if (!wanted.equals(configured)) {
            throw ArborException.invalid("the text was to be checked against key id " + wanted + " but the "
                    + "pipeline's " + part + " scheme has key id " + configured + "; use a pipeline configured with "
                    + "that key (detection never runs with a mismatched key)");
        }
    }
}
