package dev.arbor.platform.admin.internal;

import static org.assertj.core.api.Assertions.assertThat;

import jakarta.servlet.http.HttpServletRequest;
import java.lang.reflect.Proxy;
import java.util.Map;
import org.junit.jupiter.api.Test;

class SameOriginWritesTest {
    @Test
    void anOriginMustNameTheSchemeHostAndPortTheRequestWasSentTo() {
        HttpServletRequest request = request("http", "127.0.0.1", 8081);
        assertThat(SameOriginWrites.sameOrigin("http://127.0.0.1:8081", request)).isTrue();
        assertThat(SameOriginWrites.sameOrigin("http://127.0.0.1:8081/system/console/bundles", request)).isTrue();
        assertThat(SameOriginWrites.sameOrigin("http://evil.example", request)).isFalse();
        assertThat(SameOriginWrites.sameOrigin("http://127.0.0.1:8082", request)).isFalse();
        assertThat(SameOriginWrites.sameOrigin("https://127.0.0.1:8081", request)).isFalse();
        assertThat(SameOriginWrites.sameOrigin("null", request)).as("an opaque origin").isFalse();
        assertThat(SameOriginWrites.sameOrigin("not a url", request)).isFalse();
    }

    @Test
    void defaultPortsAndIpv6LiteralsCompareAsTheSameOrigin() {
        assertThat(SameOriginWrites.sameOrigin("http://localhost", request("http", "localhost", 80))).isTrue();
        assertThat(SameOriginWrites.sameOrigin("http://[::1]:8081", request("http", "::1", 8081))).isTrue();
    }

    private static HttpServletRequest request(String scheme, String host, int port) {
        Map<String, Object> answers = Map.of("getScheme", scheme, "getServerName", host, "getServerPort", port);
        return (HttpServletRequest) Proxy.newProxyInstance(SameOriginWritesTest.class.getClassLoader(),
                new Class<?>[]{HttpServletRequest.class}, (proxy, method, args) -> {
                    if (!answers.containsKey(method.getName())) {
                        throw new UnsupportedOperationException(method.getName());
                    }
                    return answers.get(method.getName());
                });
    }
}
