package dev.arbor.forge;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.arbor.api.ArborException;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.models.llama2c.Llama2cReferenceModel;
import dev.arbor.models.llama2c.Llama2cTokenizer;
import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Consumer;

/**
 * Builds the training corpus by distillation (Hinton et al. 2015 in its sequence-level form, Kim and Rush 2016):
 * stories are sampled ancestrally from BOS out of stories260K (a llama2.c TinyStories model, Eldan and Li 2023)
 * with temperature and nucleus sampling (Holtzman et al. 2020), one story per sample, until the corpus reaches the
 * target size in UTF-8 bytes. It runs on {@link Llama2cReferenceModel} with its KV cache: at 260K parameters a
 * pure-Java step is cheaper than an ONNX Runtime call, and the reference model is the project's ground truth.
 * The result is a JSON-lines file (one {"text": ...} per story) plus a manifest recording how it was made.
 */
public final class CorpusBuilder {
    private final Recipe.Corpus spec;

    public CorpusBuilder(Recipe.Corpus spec) {
        this.spec = spec;
    }

    /**
     * Builds the corpus into {@code dir} (stories.jsonl and corpus.json) unless a manifest with the same spec is
     * already there; returns the stories.
     */
    public List<String> buildOrLoad(Path dir, Path modelsRoot, Consumer<String> log) throws IOException {
        Path stories = dir.resolve("stories.jsonl");
        Path manifest = dir.resolve("corpus.json");
        ObjectMapper json = Json.MAPPER;
        if (Files.isRegularFile(manifest) && Files.isRegularFile(stories)) {
            ObjectNode m = (ObjectNode) json.readTree(manifest.toFile());
            // Compared as parsed JSON text: valueToTree keeps long/int node types that a re-read file does not.
            if (json.readTree(json.writeValueAsString(spec)).equals(m.get("spec"))) {
                return readStories(stories);
            }
            log.accept("corpus in " + dir + " was made with another spec; rebuilding");
        }
        Path model = modelsRoot.resolve(spec.teacher());
        Path tokenizerFile = modelsRoot.resolve(spec.teacherTokenizer());
        if (!Files.isRegularFile(model) || !Files.isRegularFile(tokenizerFile)) {
            throw new ArborException(ArborException.Kind.NOT_FOUND, "the corpus teacher " + model + " (and its "
                    + "tokenizer " + tokenizerFile + ") is missing: pass --models (or set ARBOR_MODELS) to the folder "
                    + "holding stories260K/");
        }
        Files.createDirectories(dir);
        Llama2cReferenceModel teacher = Llama2cReferenceModel.open(model);
        Llama2cTokenizer tok = Llama2cTokenizer.read(tokenizerFile, teacher.card().vocabSize());
        SplittableRandom rng = new SplittableRandom(spec.seed());
        List<String> out = new ArrayList<>();
        long bytes = 0;
        long tokens = 0;
        long start = System.nanoTime();
        Path tmp = dir.resolve("stories.jsonl.tmp");
        try (BufferedWriter w = Files.newBufferedWriter(tmp, StandardCharsets.UTF_8)) {
            while (bytes < spec.targetBytes()) {
                int[] ids = sampleStory(teacher, rng);
                tokens += ids.length;
                String text = tok.decode(ids).strip();
                if (text.isEmpty()) {
                    continue;
                }
                out.add(text);
                bytes += text.getBytes(StandardCharsets.UTF_8).length;
                w.write(json.writeValueAsString(json.createObjectNode().put("text", text)));
                w.write('\n');
                if (out.size() % 200 == 0) {
                    double s = (System.nanoTime() - start) / 1e9;
                    log.accept(String.format("corpus: %d stories, %d bytes (%.0f%%), %.0f teacher tokens/s",
                            out.size(), bytes, 100.0 * bytes / spec.targetBytes(), tokens / s));
                }
            }
        }
        Files.move(tmp, stories, StandardCopyOption.REPLACE_EXISTING);
        double seconds = (System.nanoTime() - start) / 1e9;
        ObjectNode m = json.createObjectNode();
        m.set("spec", json.valueToTree(spec));
        m.put("generator", "Llama2cReferenceModel (pure Java, KV cache) over " + spec.teacher());
        m.put("stories", out.size());
        m.put("bytes", bytes);
        m.put("teacher_tokens", tokens);
        m.put("seconds", Math.round(seconds));
        json.writerWithDefaultPrettyPrinter().writeValue(manifest.toFile(), m);
        return out;
    }

    /** The manifest of a corpus built in {@code dir}. */
    public static ObjectNode manifest(Path dir) throws IOException {
        return (ObjectNode) Json.MAPPER.readTree(dir.resolve("corpus.json").toFile());
    }

    static List<String> readStories(Path file) throws IOException {
        List<String> out = new ArrayList<>();
        for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
            if (!line.isBlank()) {
                out.add(Json.MAPPER.readTree(line).get("text").asText());
            }
        }
        return out;
    }

    /** One story from BOS until the teacher emits BOS or EOS (llama2.c's story delimiters) or its context ends. */
    private int[] sampleStory(Llama2cReferenceModel teacher, SplittableRandom rng) {
        int maxLen = Math.min(spec.maxStoryTokens(), teacher.weights().config().seqLen() - 1);
        int[] ids = new int[maxLen];
        int n = 0;
        int token = Llama2cTokenizer.BOS;
        try (DecodeState state = teacher.newState(1)) {
            while (n < maxLen) {
                float[] logits = teacher.forward(ForwardRequest.next(new int[][] {{token}}, state)).logits()[0][0];
                token = Sampling.sample(logits, (float) spec.temperature(), (float) spec.topP(), rng);
                if (token == Llama2cTokenizer.BOS || token == Llama2cTokenizer.EOS) {
                    break;
                }
                ids[n++] = token;
            }
        }
        return Arrays.copyOf(ids, n);
    }
}
