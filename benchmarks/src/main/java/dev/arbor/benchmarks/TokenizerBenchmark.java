package dev.arbor.benchmarks;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.arbor.models.llama2c.Llama2cTokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Prompt encoding time of the llama2.c tokenizer format on 100 KB of text: stories260K's tok512.bin and the forge's
 * trained tokenizer.bin, on story text (the published stories260K sample, repeated) and on random lower-case
 * letters with no space (the whole text is one run of merges). Reports the median and minimum of {@code rounds}
 * timed encodes after {@code rounds} untimed ones (JIT warm-up), in milliseconds, per tokenizer and text.
 *
 * <p>Usage: {@code TokenizerBenchmark MODELS_DIR FORGE_TOKENIZER [KILOBYTES] [ROUNDS]}; MODELS_DIR holds
 * {@code stories260K/tok512.bin} and {@code expected.json}.
 */
public final class TokenizerBenchmark {
    private TokenizerBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        Path models = Path.of(args[0]);
        Path forge = Path.of(args[1]);
        int kilobytes = args.length > 2 ? Integer.parseInt(args[2]) : 100;
        int rounds = args.length > 3 ? Integer.parseInt(args[3]) : 20;
        int bytes = kilobytes * 1000;
        String sample = new ObjectMapper().readTree(models.resolve("expected.json").toFile())
                .path("stories260K").path("greedy").path("text").asText() + "\n";
        String story = sample.repeat(bytes / sample.length() + 1).substring(0, bytes);
        StringBuilder letters = new StringBuilder(bytes);
        SplittableRandom random = new SplittableRandom(1);
        while (letters.length() < bytes) {
            letters.append((char) ('a' + random.nextInt(26)));
        }
        System.out.printf("java %s, %d cores; %d KB per encode; %d warm-up + %d timed rounds%n",
                System.getProperty("java.version"), Runtime.getRuntime().availableProcessors(), kilobytes, rounds,
                rounds);
        System.out.println("| tokenizer | text | tokens | median ms | min ms |");
        System.out.println("|---|---|---|---|---|");
        for (Path file : List.of(models.resolve("stories260K/tok512.bin"), forge)) {
            Llama2cTokenizer tok = Llama2cTokenizer.read(file, 0);
            for (String[] text : new String[][] {{"story", story}, {"random letters", letters.toString()}}) {
                int tokens = 0;
                List<Double> millis = new ArrayList<>();
                for (int r = 0; r < 2 * rounds; r++) {
                    long start = System.nanoTime();
                    tokens = tok.encode(text[1], true).length;
                    if (r >= rounds) {
                        millis.add((System.nanoTime() - start) / 1e6);
                    }
                }
                double[] sorted = millis.stream().mapToDouble(Double::doubleValue).sorted().toArray();
                System.out.printf("| %s (vocab %d) | %s | %d | %.1f | %.1f |%n", file.getParent().getFileName() + "/"
                        + file.getFileName(), tok.vocabSize(), text[0], tokens, sorted[sorted.length / 2],
                        Arrays.stream(sorted).min().orElse(0));
            }
        }
        if (!Files.exists(forge)) {
            throw new IllegalStateException(forge + " does not exist");
        }
    }
}
