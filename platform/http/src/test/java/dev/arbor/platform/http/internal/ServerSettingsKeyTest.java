package dev.arbor.platform.http.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;
import org.junit.jupiter.api.Test;

class ServerSettingsKeyTest {
    /** SHA-256("sk-test-key" || salt 00..0f) || salt, in base64: LDAP's {SSHA256}, computed independently. */
    static final String KNOWN = "{SSHA256}xdKo0O9vRsjPZtOYYMp7OAPA3Ag3dVEOFWOGauQ+7VIAAQIDBAUGBwgJCgsMDQ4P";

    @Test
    void settingsTakeTheHashAndNeverShowTheKey() {
        ServerSettings fromHash = ServerSettings.from(Map.of(ServerSettings.API_KEY_HASH, KNOWN));
        assertThat(fromHash.authenticates()).isTrue();
        assertThat(fromHash.apiKey().matches("sk-test-key")).isTrue();
        ServerSettings fromClear = ServerSettings.from(Map.of(ServerSettings.API_KEY, "sk-clear-key"));
        assertThat(fromClear.apiKey().matches("sk-clear-key")).isTrue();
        assertThat(fromClear.toString()).doesNotContain("sk-clear-key");
        assertThat(ServerSettings.from(Map.of()).authenticates()).isFalse();
    }

    @Test
    void aMalformedHashIsRefusedWithoutEchoingIt() {
        assertThatThrownBy(() -> ServerSettings.from(Map.of(ServerSettings.API_KEY_HASH, "secret-in-clear")))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining(ServerSettings.API_KEY_HASH)
                .hasMessageNotContaining("secret-in-clear");
    }
}
