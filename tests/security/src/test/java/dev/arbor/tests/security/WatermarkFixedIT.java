package dev.arbor.tests.security;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.net.http.HttpResponse;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A request cannot strip or re-key the operator's watermark: on {@code arbor-tiny-watermarked} (green-list
 * watermark, key from {@code ARBOR_WATERMARK_KEY}) a request's own processor chain without the watermark, the
 * watermark with the client's key, or a request option aimed at the watermark's unset options either gets a 400
 * naming the fixed part or yields text that the operator's detector flags. Before the fix the first three were
 * served with z near 0 (stripped).
 */
class WatermarkFixedIT {
    static final String PIPELINE = "arbor-tiny-watermarked";
    static final String OPERATOR_KEY = "7330118239";
    static final ObjectMapper JSON = new ObjectMapper();
    static ServedArbor server;

    @BeforeAll
    static void start() throws Exception {
        server = ServedArbor.start(Map.of("ARBOR_WATERMARK_KEY", OPERATOR_KEY));
    }

    @AfterAll
    static void stop() throws Exception {
        if (server != null) {
            server.close();
        }
    }

    /** A completion of 200 tokens from the pipeline with {@code seed}, and {@code arbor} as the extension. */
    static HttpResponse<String> complete(long seed, String arbor) throws Exception {
        ObjectNode body = JSON.createObjectNode().put("model", PIPELINE).put("prompt", "Once upon a time")
                .put("max_tokens", 200).put("seed", seed);
        if (arbor != null) {
            body.set("arbor", JSON.readTree(arbor));
        }
        return server.post("/v1/completions", body.toString());
    }

    static String text(HttpResponse<String> response) throws Exception {
        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        return JSON.readTree(response.body()).at("/choices/0/text").asText();
    }

    /** The operator's detector report on {@code text}. */
    static JsonNode detect(String text) throws Exception {
        HttpResponse<String> r = server.post("/v1/arbor/watermark/detect", JSON.createObjectNode()
                .put("model", PIPELINE).put("text", text).toString());
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        return JSON.readTree(r.body()).at("/reports/watermark");
    }

    static void assertRefusedNamingTheWatermark(HttpResponse<String> r) {
        assertThat(r.statusCode()).as(r.body()).isEqualTo(400);
        assertThat(r.body()).contains("'watermark-greenlist' fixed").doesNotContain("Exception").doesNotContain("\tat ");
    }

    @Test
    void thePipelinesOwnOutputIsFlaggedByTheOperatorsDetector() throws Exception {
        for (long seed : new long[] {2, 3}) {
            JsonNode report = detect(text(complete(seed, null)));
            assertThat(report.get("detected").asBoolean()).as("seed %d: %s", seed, report).isTrue();
        }
    }

    @Test
    void aChainWithoutTheWatermarkIsRefused() throws Exception {
        assertRefusedNamingTheWatermark(complete(2, "{\"processors\": [\"temperature\", \"top-p\"]}"));
    }

    @Test
    void theWatermarkWithTheClientsOwnKeyIsRefused() throws Exception {
        HttpResponse<String> r = complete(2, "{\"processors\": [\"repetition-penalty\", {\"name\": "
                + "\"watermark-greenlist\", \"options\": {\"hashing_key\": \"1\"}}, \"temperature\", \"top-k\", "
                + "\"top-p\"]}");
        assertRefusedNamingTheWatermark(r);
        assertThat(r.body()).doesNotContain(OPERATOR_KEY);
    }

    @Test
    void aSecondCopyOfTheWatermarkIsRefused() throws Exception {
        assertRefusedNamingTheWatermark(complete(2, "{\"processors\": [\"temperature\", \"top-p\", "
                + "\"watermark-greenlist\", \"watermark-greenlist\"]}"));
    }

    @Test
    void requestOptionsDoNotReachTheWatermark() throws Exception {
        // the operator left "bias" at its default: a request option of that name must not switch the watermark off
        String own = text(complete(2, null));
        String withBiasZero = text(complete(2, "{\"options\": {\"bias\": 0, \"greenlist_ratio\": 0.9}}"));
        assertThat(withBiasZero).isEqualTo(own);
        assertThat(detect(withBiasZero).get("detected").asBoolean()).isTrue();
    }

    @Test
    void adjustablePartsAndAllowedGeneratorsStillCarryTheWatermark() throws Exception {
        JsonNode adjusted = detect(text(complete(2, "{\"processors\": [\"min-p\", \"repetition-penalty\", "
                + "\"watermark-greenlist\", \"temperature\"]}")));
        assertThat(adjusted.get("detected").asBoolean()).as("%s", adjusted).isTrue();
        JsonNode lookup = detect(text(complete(2, "{\"generator\": \"prompt-lookup\"}")));
        assertThat(lookup.get("z_score").asDouble()).as("%s", lookup).isGreaterThan(4.0);
    }

    /** The Open Inference Protocol's infer on the pipeline: 200 tokens with {@code seed} and extra parameters. */
    static HttpResponse<String> infer(long seed, Map<String, Object> parameters) throws Exception {
        ObjectNode body = JSON.createObjectNode();
        ObjectNode params = body.putObject("parameters").put("max_tokens", 200).put("seed", seed);
        parameters.forEach((k, v) -> params.set(k, JSON.valueToTree(v)));
        ObjectNode input = body.putArray("inputs").addObject().put("name", "text_input").put("datatype", "BYTES");
        input.putArray("shape").add(1);
        input.putArray("data").add("Once upon a time");
        return server.post("/v2/models/" + PIPELINE + "/infer", body.toString());
    }

    static String inferredText(HttpResponse<String> response) throws Exception {
        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        for (JsonNode output : JSON.readTree(response.body()).get("outputs")) {
            if (output.get("name").asText().equals("text_output")) {
                return output.at("/data/0").asText();
            }
        }
        throw new AssertionError("no text_output in " + response.body());
    }

    @Test
    void theOpenInferenceProtocolCannotStripOrReachTheWatermarkEither() throws Exception {
        String own = inferredText(infer(2, Map.of()));
        assertThat(detect(own).get("detected").asBoolean()).as(own).isTrue();
        HttpResponse<String> stripped = infer(2, Map.of("arbor.processors", "temperature,top-p"));
        assertThat(stripped.statusCode()).as(stripped.body()).isEqualTo(400);
        assertThat(stripped.body()).contains("'watermark-greenlist' fixed").doesNotContain("\tat ");
        String withBiasZero = inferredText(infer(2, Map.of("arbor.bias", 0, "arbor.greenlist_ratio", 0.9)));
        assertThat(withBiasZero).isEqualTo(own);
    }
}
