package dev.arbor.tests.security;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.http.HttpResponse;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Per-request cost has operator limits with safe defaults; a request over one gets 400 naming it and its setting. */
class CostLimitIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static ServedArbor arbor;

    @BeforeAll
    static void start() throws Exception {
        arbor = ServedArbor.start("--max-beam-tokens", "4096");
    }

    @AfterAll
    static void stop() throws Exception {
        if (arbor != null) {
            arbor.close();
        }
    }

    private static HttpResponse<String> complete(String pipeline, int maxTokens, String generator,
                                                 Map<String, Object> options) throws Exception {
        return arbor.post("/v1/completions", JSON.writeValueAsString(Map.of("model", pipeline, "prompt", "Once",
                "max_tokens", maxTokens, "temperature", 0,
                "arbor", Map.of("generator", Map.of("name", generator, "options", options)))));
    }

    private static String message(HttpResponse<String> r) throws Exception {
        return JSON.readTree(r.body()).path("error").path("message").asText();
    }

    @Test
    void aThousandBeamsAreRefusedBeforeAnyCompute() throws Exception {
        HttpResponse<String> r = complete("arbor-tiny", 16, "beam-search", Map.of("num_beams", 1024));
        assertThat(r.statusCode()).as(r.body()).isEqualTo(400);
        assertThat(message(r)).contains("num_beams is 1024").contains("limit of 16")
                .contains("arbor.limits.num_beams").contains("--max-beams");
    }

    @Test
    void beamsTimesTokensFollowTheServeOption() throws Exception {
        HttpResponse<String> r = complete("arbor-tiny", 1024, "beam-search", Map.of("num_beams", 8));
        assertThat(r.statusCode()).as(r.body()).isEqualTo(400);
        assertThat(message(r)).contains("(8 x 1024)").contains("limit of 4096").contains("--max-beam-tokens");
        HttpResponse<String> ok = complete("arbor-tiny", 8, "beam-search", Map.of("num_beams", 4));
        assertThat(ok.statusCode()).as(ok.body()).isEqualTo(200);
    }

    @Test
    void draftsPerStepAndCanvasWorkAreBounded() throws Exception {
        HttpResponse<String> tree = complete("arbor-tiny", 8, "speculative-tree",
                Map.of("draft", "arbor-tiny-draft", "max_nodes", 1000));
        assertThat(tree.statusCode()).as(tree.body()).isEqualTo(400);
        assertThat(message(tree)).contains("max_nodes is 1000").contains("arbor.limits.draft_tokens");
        HttpResponse<String> canvas = complete("arbor-tiny-mdlm", 64, "rcr", Map.of("steps", 1_000_000));
        assertThat(canvas.statusCode()).as(canvas.body()).isEqualTo(400);
        assertThat(message(canvas)).contains("steps").contains("arbor.limits.canvas_work");
    }
}
