package dev.arbor.prognostics.arphmm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Model files: a written model reads back identical; broken files are refused naming the problem. */
class ModelJsonTest {
    private static final String VALID = """
            {"kind": "arphmm", "dimension": 1, "order": 1, "topology": "left-right", "failure_state": 1,
             "initial": [1, 0], "transitions": [[0.9, 0.1], [0, 1]],
             "regressions": [[[0.5, 1.0]], [[0.9, -0.2]]], "covariances": [[[0.1]], [[0.2]]]}
            """;

    @Test
    void aWrittenModelReadsBackIdentical() {
        ArHmm model = Models.random(3, 2, 2, new SplittableRandom(4));
        String json = ModelJson.write(model, "test", Map.of("seed", 4));
        ModelJson.Document doc = ModelJson.read(json, "test");
        assertThat(doc.description()).isEqualTo("test");
        assertThat(doc.model().transitions()).isDeepEqualTo(model.transitions());
        assertThat(doc.model().regression(2)).isDeepEqualTo(model.regression(2));
        assertThat(doc.model().covariance(1)).isDeepEqualTo(model.covariance(1));
        assertThat(doc.training().get("seed").asInt()).isEqualTo(4);
        assertThat(ModelJson.read(VALID, "f").model().failureState()).isEqualTo(1);
    }

    private static void refused(String json, String... fragments) {
        assertThatThrownBy(() -> ModelJson.read(json, "file x.json")).isInstanceOf(ArborException.class)
                .satisfies(e -> assertThat(((ArborException) e).kind()).isEqualTo(ArborException.Kind.BAD_MODEL))
                .hasMessageContaining("file x.json").hasMessageContainingAll(fragments);
    }

    @Test
    void brokenFilesAreRefusedNamingTheProblem() {
        refused("{", "not valid JSON");
        refused(VALID.replace("\"arphmm\"", "\"llama\""), "kind 'llama'");
        refused(VALID.replace("\"order\": 1", "\"order\": 1, \"extra\": 2"), "unknown field 'extra'");
        refused(VALID.replace("[[0.9, 0.1], [0, 1]]", "[[0.9, 0.2], [0, 1]]"), "row 0 of 'transitions'",
                "sums to");
        refused(VALID.replace("[[0.9, 0.1], [0, 1]]", "[[0.9, 0.1], [0.1, 0.9]]"), "not allowed by topology");
        refused(VALID.replace("[[[0.1]], [[0.2]]]", "[[[0.1]], [[-0.2]]]"), "'covariances'[1]",
                "not positive definite");
        refused(VALID.replace("[[[0.5, 1.0]], [[0.9, -0.2]]]", "[[[0.5]], [[0.9, -0.2]]]"), "'regressions'[0]",
                "1×2");
        refused(VALID.replace("\"initial\": [1, 0]", "\"initial\": [1, 0, 0]"), "'transitions' must be 3×3");
        refused(VALID.replace("\"failure_state\": 1", "\"failure_state\": 5"), "'failure_state'");
        refused(VALID.replace("\"topology\": \"left-right\"", "\"topology\": \"ring\""), "unknown topology");
        refused(VALID.replace("[[[0.1]], [[0.2]]]", "[[[0.1]], [[\"a\"]]]"), "is not a number");
    }

    @Test
    void aNonSymmetricCovarianceIsRefused() {
        String json = """
                {"kind": "arphmm", "dimension": 2, "order": 0, "topology": "full", "initial": [1],
                 "transitions": [[1]], "regressions": [[[0], [0]]], "covariances": [[[1, 0.5], [0.2, 1]]]}
                """;
        refused(json, "not symmetric");
    }
}
