package dev.arbor.packaging;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import dev.arbor.api.pipeline.PipelineDefinition;
import dev.arbor.platform.runtime.internal.PipelineJson;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Stream;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Test;
import org.w3c.dom.Document;

/**
 * The Kubernetes manifests against what Arbor is: the Helm chart's values and templates ({@code helm/arbor}) and the
 * KServe manifests ({@code kserve/}) parse as YAML, their probes ask the health endpoints Arbor serves (that they
 * answer is {@code ManifestProbesIT}'s part), ports agree everywhere, the grace periods fit Arbor's drain, the
 * pipelines mount where the image keeps etc/pipelines, and every pipeline file they ship parses with Arbor's own
 * pipeline parser and names its model files only under folders a pod has.
 *
 * <p>{@code helm} is not installed here (it is neither a Debian package nor on Maven Central), so the chart's
 * templates are not rendered: their wiring to the values is checked as text instead.
 */
class PackagingManifestsTest {
    /** The health endpoints of the Open Inference Protocol's REST front end (platform/oip). */
    static final Set<String> HEALTH_PATHS = Set.of("/v2/health/live", "/v2/health/ready");
    /** Where the image keeps the installation (packaging/pom.xml, extraDirectories). */
    private static final String IMAGE_HOME = "/opt/arbor";
    /** KServe's storage initializer puts a storageUri here. */
    private static final String KSERVE_MODELS = "/mnt/models";
    /** Arbor's default request deadline (request_timeout_ms). */
    private static final long REQUEST_DEADLINE_MS = 120_000;
    /** What the framework's own stop takes after the drain, at most (bundles stop, natives release). */
    private static final long FRAMEWORK_STOP_SECONDS = 10;

    private static final YAMLMapper YAML = new YAMLMapper();
    private final Path packaging = Path.of(System.getProperty("arbor.packaging", "."));
    private final Path chart = packaging.resolve("helm/arbor");

    @Test
    void chartValuesProbeArborsHealthEndpointsAndFitTheDrain() throws IOException {
        JsonNode chartYaml = yaml(chart.resolve("Chart.yaml"));
        JsonNode values = yaml(chart.resolve("values.yaml"));
        assertThat(chartYaml.path("apiVersion").asText()).isEqualTo("v2");
        assertThat(chartYaml.path("name").asText()).isEqualTo("arbor");
        String version = System.getProperty("project.version");
        if (version != null) {
            assertThat(chartYaml.path("appVersion").asText()).as("Chart.yaml appVersion").isEqualTo(version);
            assertThat(values.path("image").path("tag").asText()).as("values image.tag").isEqualTo(version);
        }

        JsonNode probes = values.path("probes");
        assertThat(probes.path("liveness").path("path").asText()).isEqualTo("/v2/health/live");
        assertThat(probes.path("readiness").path("path").asText()).isEqualTo("/v2/health/ready");
        assertThat(probes.path("startup").path("path").asText()).isIn(HEALTH_PATHS);

        long preStop = values.path("drain").path("preStopSleepSeconds").asLong(-1);
        long drainDelayMs = values.path("drain").path("drainDelayMs").asLong(-1);
        assertThat(drainDelayMs).as("drain.drainDelayMs").isNotNegative();
        long graceMs = values.path("drain").path("shutdownGraceMs").asLong(-1);
        long termination = values.path("terminationGracePeriodSeconds").asLong(-1);
        assertThat(preStop).as("drain.preStopSleepSeconds").isNotNegative();
        assertThat(graceMs).as("drain.shutdownGraceMs").isPositive();
        assertThat(termination).as("terminationGracePeriodSeconds must cover preStop %d s + drain delay %d ms +"
                        + " shutdown grace %d ms + the framework's stop %d s", preStop, drainDelayMs, graceMs,
                FRAMEWORK_STOP_SECONDS)
                .isGreaterThanOrEqualTo(preStop + ceilSeconds(drainDelayMs + graceMs) + FRAMEWORK_STOP_SECONDS);
        assertThat(values.path("port").asInt()).as("values port").isBetween(1, 65535);
        assertThat(values.path("models").path("mountPath").asText()).startsWith("/");
    }

    @Test
    void chartTemplatesWireTheValues() throws IOException {
        String deployment = Files.readString(chart.resolve("templates/deployment.yaml"));
        String service = Files.readString(chart.resolve("templates/service.yaml"));
        String configMap = Files.readString(chart.resolve("templates/configmap.yaml"));
        for (String probe : List.of("startup", "liveness", "readiness")) {
            assertThat(deployment).as("%s probe", probe)
                    .contains("path: {{ .Values.probes." + probe + ".path }}");
        }
        // the probes, the container port and the Service's target all use the one named port
        assertThat(deployment).contains("containerPort: {{ .Values.port }}").contains("- --port\n"
                + "            - {{ .Values.port | quote }}");
        assertThat(countOf(deployment, "port: http\n")).as("probes on the named port").isEqualTo(3);
        assertThat(deployment).contains("- name: http\n              containerPort:");
        assertThat(service).contains("targetPort: http");
        // the drain's settings reach the pod and the process
        assertThat(deployment).contains("terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}")
                .contains("- --shutdown-grace-ms\n            - {{ .Values.drain.shutdownGraceMs | quote }}")
                .contains("- --drain-delay-ms\n            - {{ .Values.drain.drainDelayMs | quote }}")
                .contains("seconds: {{ .Values.drain.preStopSleepSeconds }}");
        // pipelines from the ConfigMap, at the image's etc/pipelines; models at ARBOR_MODELS
        assertThat(deployment).contains("mountPath: " + imageHome() + "/etc/pipelines")
                .contains("name: {{ include \"arbor.fullname\" . }}-pipelines")
                .contains("- name: ARBOR_MODELS\n              value: {{ .Values.models.mountPath | quote }}")
                .contains("mountPath: {{ .Values.models.mountPath }}");
        assertThat(configMap).contains("name: {{ include \"arbor.fullname\" . }}-pipelines")
                .contains(".Files.Glob \"pipelines/*.json\"");
    }

    @Test
    void chartPipelinesParseWithArborsParser() throws IOException {
        Map<String, String> files = new TreeMap<>();
        try (Stream<Path> list = Files.list(chart.resolve("pipelines"))) {
            for (Path p : list.filter(f -> f.toString().endsWith(".json")).toList()) {
                files.put(p.getFileName().toString(), Files.readString(p));
            }
        }
        assertThat(files).as("the chart's pipeline files").isNotEmpty();
        files.forEach((name, json) -> checkPipeline(name, json, "/models"));
    }

    @Test
    void kserveRuntimeSpeaksV2AndServesTheInferenceService() throws IOException {
        JsonNode runtime = yaml(packaging.resolve("kserve/cluster-serving-runtime.yaml"));
        JsonNode isvc = yaml(packaging.resolve("kserve/inference-service.yaml"));
        JsonNode pipelines = yaml(packaging.resolve("kserve/pipelines-configmap.yaml"));
        assertThat(runtime.path("apiVersion").asText()).isEqualTo("serving.kserve.io/v1alpha1");
        assertThat(runtime.path("kind").asText()).isEqualTo("ClusterServingRuntime");
        JsonNode spec = runtime.path("spec");
        assertThat(texts(spec.path("protocolVersions"))).contains("v2");

        JsonNode container = spec.path("containers").path(0);
        assertThat(container.path("name").asText()).as("KServe's container name").isEqualTo("kserve-container");
        List<String> args = texts(container.path("args"));
        assertThat(args).startsWith("serve").contains("--host", "0.0.0.0");
        int port = Integer.parseInt(argument(args, "--port"));
        assertThat(container.path("ports").path(0).path("containerPort").asInt()).isEqualTo(port);
        for (String probe : List.of("readinessProbe", "livenessProbe")) {
            JsonNode get = container.path(probe).path("httpGet");
            assertThat(get.path("path").asText()).as(probe).isIn(HEALTH_PATHS);
            assertThat(get.path("port").asInt()).as("%s port", probe).isEqualTo(port);
        }
        assertThat(container.path("readinessProbe").path("httpGet").path("path").asText())
                .isEqualTo("/v2/health/ready");
        assertThat(spec.path("annotations").path("prometheus.kserve.io/port").asText())
                .isEqualTo(String.valueOf(port));
        assertThat(Long.parseLong(argument(args, "--shutdown-grace-ms"))).isPositive();
        assertThat(Long.parseLong(argument(args, "--drain-delay-ms"))).isNotNegative();
        assertThat(env(container, "ARBOR_MODELS")).isEqualTo(KSERVE_MODELS);

        // the pipelines: the ConfigMap, mounted at the image's etc/pipelines
        String configMapName = pipelines.path("metadata").path("name").asText();
        String volume = null;
        for (JsonNode v : spec.path("volumes")) {
            if (configMapName.equals(v.path("configMap").path("name").asText())) {
                volume = v.path("name").asText();
            }
        }
        assertThat(volume).as("a volume of ConfigMap %s", configMapName).isNotNull();
        String mountPath = null;
        for (JsonNode m : container.path("volumeMounts")) {
            if (m.path("name").asText().equals(volume)) {
                mountPath = m.path("mountPath").asText();
            }
        }
        assertThat(mountPath).isEqualTo(imageHome() + "/etc/pipelines");

        // the InferenceService selects this runtime and format, with autoscaling, canary and scale to zero
        assertThat(isvc.path("kind").asText()).isEqualTo("InferenceService");
        JsonNode predictor = isvc.path("spec").path("predictor");
        JsonNode model = predictor.path("model");
        assertThat(model.path("runtime").asText()).isEqualTo(runtime.path("metadata").path("name").asText());
        assertThat(model.path("protocolVersion").asText()).isEqualTo("v2");
        assertThat(texts(spec.path("supportedModelFormats"), "name")).contains(model.path("modelFormat")
                .path("name").asText());
        assertThat(predictor.path("minReplicas").asInt(-1)).as("scale to zero").isZero();
        assertThat(predictor.path("maxReplicas").asInt()).isPositive();
        assertThat(predictor.path("scaleMetric").asText()).isIn("concurrency", "rps", "cpu", "memory");
        assertThat(predictor.path("scaleTarget").asInt()).isPositive()
                .isLessThanOrEqualTo(predictor.path("containerConcurrency").asInt());
        assertThat(predictor.path("canaryTrafficPercent").asInt(-1)).isBetween(0, 100);
        assertThat(predictor.path("timeout").asLong() * 1000).as("the predictor's timeout covers Arbor's deadline")
                .isGreaterThanOrEqualTo(REQUEST_DEADLINE_MS);
        assertThat(model.path("storageUri").asText()).isNotEmpty();
    }

    @Test
    void kservePipelinesAreTheChartsAndParse() throws IOException {
        JsonNode data = yaml(packaging.resolve("kserve/pipelines-configmap.yaml")).path("data");
        List<String> keys = new ArrayList<>();
        data.fieldNames().forEachRemaining(keys::add);
        assertThat(keys).as("pipeline files").isNotEmpty().allMatch(k -> k.endsWith(".json"));
        for (String key : keys) {
            String json = data.get(key).asText();
            checkPipeline(key, json, KSERVE_MODELS);
            Path chartFile = chart.resolve("pipelines").resolve(key);
            assertThat(chartFile).as("the chart ships %s too", key).isRegularFile();
            assertThat(json.strip()).as("%s as in the chart", key).isEqualTo(Files.readString(chartFile).strip());
        }
    }

    /** A pipeline file must parse, be named as its file, and name model files only under the pod's folders. */
    private static void checkPipeline(String fileName, String json, String modelsFolder) {
        String base = fileName.substring(0, fileName.length() - ".json".length());
        PipelineDefinition definition = PipelineJson.parse(json, fileName, base, variable -> switch (variable) {
            case "arbor.home" -> IMAGE_HOME;
            case "arbor.models" -> modelsFolder;
            default -> null; // a pod has nothing else: the parser then names the variable
        });
        assertThat(definition.name()).as("%s's pipeline name", fileName).isEqualTo(base);
        for (String path : List.of(definition.model().path(), definition.tokenizer().path())) {
            assertThat(path.startsWith(IMAGE_HOME + "/models/") || path.startsWith(modelsFolder + "/"))
                    .as("%s names %s, outside the image's models and the models volume", fileName, path).isTrue();
        }
    }

    /** The folder the image puts the installation in, read from the packaging module's jib configuration. */
    private String imageHome() {
        try {
            DocumentBuilderFactory factory = DocumentBuilderFactory.newInstance();
            factory.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
            Document pom = factory.newDocumentBuilder().parse(packaging.resolve("pom.xml").toFile());
            String into = pom.getElementsByTagName("into").item(0).getTextContent().trim();
            assertThat(into).as("jib extraDirectories into").isEqualTo(IMAGE_HOME);
            return into;
        } catch (Exception e) {
            throw new AssertionError("packaging/pom.xml: " + e, e);
        }
    }

    private static JsonNode yaml(Path file) throws IOException {
        assertThat(file).isRegularFile();
        JsonNode node = YAML.readTree(file.toFile());
        assertThat(node).as("%s holds a YAML mapping", file).isNotNull();
        assertThat(node.isObject()).as("%s holds a YAML mapping", file).isTrue();
        return node;
    }

    private static List<String> texts(JsonNode array) {
        List<String> out = new ArrayList<>();
        array.forEach(n -> out.add(n.asText()));
        return out;
    }

    private static List<String> texts(JsonNode array, String field) {
        List<String> out = new ArrayList<>();
        array.forEach(n -> out.add(n.path(field).asText()));
        return out;
    }

    private static String argument(List<String> args, String flag) {
        int i = args.indexOf(flag);
        assertThat(i).as("argument %s in %s", flag, args).isNotNegative().isLessThan(args.size() - 1);
        return args.get(i + 1);
    }

    private static String env(JsonNode container, String name) {
        for (JsonNode e : container.path("env")) {
            if (name.equals(e.path("name").asText())) {
                return e.path("value").asText();
            }
        }
        return null;
    }

    private static long ceilSeconds(long millis) {
        return (millis + 999) / 1000;
    }

    private static int countOf(String text, String part) {
        int n = 0;
        for (int i = text.indexOf(part); i >= 0; i = text.indexOf(part, i + 1)) {
            n++;
        }
        return n;
    }
}
