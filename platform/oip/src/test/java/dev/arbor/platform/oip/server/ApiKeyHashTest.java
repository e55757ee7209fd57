package dev.arbor.platform.oip.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;
import org.junit.jupiter.api.Test;

class ApiKeyHashTest {
    /** SHA-256("sk-test-key" || salt 00..0f) || salt, in base64: LDAP's {SSHA256}, computed independently. */
    static final String KNOWN = "{SSHA256}xdKo0O9vRsjPZtOYYMp7OAPA3Ag3dVEOFWOGauQ+7VIAAQIDBAUGBwgJCgsMDQ4P";

    @Test
    void aStoredHashMatchesItsKeyOnly() {
        ApiKeyHash hash = ApiKeyHash.parse(KNOWN);
        assertThat(hash.matches("sk-test-key")).isTrue();
        assertThat(hash.matches("sk-test-kez")).isFalse();
        assertThat(hash.matches("")).isFalse();
        assertThat(hash.matches(null)).isFalse();
    }

    @Test
    void freshHashesAreSaltedAndRoundTrip() {
        ApiKeyHash a = ApiKeyHash.of("k");
        ApiKeyHash b = ApiKeyHash.of("k");
        assertThat(a.encoded()).isNotEqualTo(b.encoded()).doesNotContain("k\"");
        assertThat(ApiKeyHash.parse(a.encoded()).matches("k")).isTrue();
        assertThat(a.toString()).doesNotContain(a.encoded().substring(ApiKeyHash.PREFIX.length()));
    }

    @Test
    void theConfigurationGivesTheHashOrHashesAClearKey() {
        assertThat(ApiKeyHash.fromConfiguration(Map.of(ApiKeyHash.CONFIG_KEY, KNOWN)).matches("sk-test-key")).isTrue();
        ApiKeyHash fromClear = ApiKeyHash.fromConfiguration(Map.of("api_key", "sk-clear-key"));
        assertThat(fromClear.matches("sk-clear-key")).isTrue();
        assertThat(fromClear.toString()).doesNotContain("sk-clear-key");
        assertThat(ApiKeyHash.fromConfiguration(Map.of())).isNull();
        assertThatThrownBy(() -> ApiKeyHash.fromConfiguration(Map.of(ApiKeyHash.CONFIG_KEY, "secret-in-clear")))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining(ApiKeyHash.CONFIG_KEY)
                .hasMessageNotContaining("secret-in-clear");
    }
}
