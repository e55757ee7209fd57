package dev.arbor.platform.http.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class RequestJsonTest {
    private final RequestJson json = new RequestJson(1 << 20);

    private static byte[] nested(int depth) {
        return ("[".repeat(depth) + "]".repeat(depth)).getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void refusesDeepNestingWithA400NotANullPointerException() {
        // Jackson's own limit (1,000) used to fail without a location, and reading it threw a NullPointerException
        for (int depth : new int[] {RequestJson.MAX_NESTING + 1, 1_001, 100_000}) {
            assertThatThrownBy(() -> json.parse(nested(depth))).isInstanceOfSatisfying(ApiError.class, e -> {
                assertThat(e.status).isEqualTo(400);
                assertThat(e.getMessage()).startsWith("the request body breaks a limit of this server's JSON reader")
                        .contains("nesting depth").contains("maximum allowed (" + RequestJson.MAX_NESTING + ")")
                        .doesNotContain("StreamReadConstraints");
            });
        }
        assertThat(json.parse(nested(RequestJson.MAX_NESTING)).isArray()).isTrue();
    }

    @Test
    void refusesOverlongNumbersAndNames() {
        byte[] number = ("{\"seed\": " + "9".repeat(RequestJson.MAX_NUMBER_LENGTH + 1) + "}")
                .getBytes(StandardCharsets.UTF_8);
        assertThatThrownBy(() -> json.parse(number)).isInstanceOfSatisfying(ApiError.class,
                e -> assertThat(e.getMessage()).contains("Number value length"));
        byte[] name = ("{\"" + "k".repeat(RequestJson.MAX_NAME_LENGTH + 1) + "\": 1}").getBytes(StandardCharsets.UTF_8);
        assertThatThrownBy(() -> json.parse(name)).isInstanceOfSatisfying(ApiError.class,
                e -> assertThat(e.getMessage()).contains("Name length"));
        RequestJson small = new RequestJson(100);
        byte[] string = ("{\"prompt\": \"" + "s".repeat(200) + "\"}").getBytes(StandardCharsets.UTF_8);
        assertThatThrownBy(() -> small.parse(string)).isInstanceOf(ApiError.class);
    }

    @Test
    void saysWhereMalformedJsonBreaks() {
        assertThatThrownBy(() -> json.parse("{\"model\": }".getBytes(StandardCharsets.UTF_8)))
                .isInstanceOfSatisfying(ApiError.class, e -> assertThat(e.getMessage())
                        .startsWith("the request body is not valid JSON").contains("(line 1, column"));
    }
}
