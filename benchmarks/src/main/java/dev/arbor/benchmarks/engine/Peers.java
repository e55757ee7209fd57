package dev.arbor.benchmarks.engine;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The peer engines, run as subprocesses on the same llama2.c checkpoint (or its GGUF conversions) and parsed for
 * their own decode tokens/s: llama2.c's {@code run.c} (prints {@code achieved tok/s}, timed from the second token)
 * and llama.cpp's {@code llama-bench} (text generation of N tokens from an empty context, CSV {@code avg_ts}). Their
 * binaries are yardsticks built outside the project; a missing binary or file gives no figure, never a failure.
 */
public final class Peers {
    private static final Pattern ACHIEVED = Pattern.compile("achieved tok/s: ([0-9.]+)");
    private static final long TIMEOUT_SECONDS = 300;

    private Peers() {
    }

    /**
     * llama2.c run.c greedy from BOS for {@code tokens} tokens; {@code ompThreads} sets OMP_NUM_THREADS (ignored by a
     * build without OpenMP). Empty when the binary or a file is missing or the output has no figure.
     */
    public static Double llama2c(Path binary, int ompThreads, Path checkpoint, Path tokenizer, int tokens)
            throws IOException, InterruptedException {
        if (!executable(binary) || !Files.isRegularFile(checkpoint) || !Files.isRegularFile(tokenizer)) {
            return null;
        }
        // -n counts positions including the BOS prompt token, so N generated tokens need N + 1 steps
        String out = run(List.of(binary.toString(), checkpoint.toString(), "-z", tokenizer.toString(), "-t", "0",
                "-n", String.valueOf(tokens + 1)), Map.of("OMP_NUM_THREADS", String.valueOf(ompThreads)));
        Matcher m = ACHIEVED.matcher(out);
        return m.find() ? Double.parseDouble(m.group(1)) : null;
    }

    /**
     * llama.cpp llama-bench generating {@code tokens} tokens with each thread count, one repetition (it warms up
     * first); thread count to tokens/s, empty when the binary or the model is missing or the run failed.
     */
    public static Map<Integer, Double> llamaBench(Path binary, Path gguf, int tokens, int[] threads)
            throws IOException, InterruptedException {
        Map<Integer, Double> out = new LinkedHashMap<>();
        if (!executable(binary) || !Files.isRegularFile(gguf)) {
            return out;
        }
        String csv = run(List.of(binary.toString(), "-m", gguf.toString(), "-p", "0", "-n", String.valueOf(tokens),
                "-t", String.join(",", Arrays.stream(threads).mapToObj(String::valueOf).toList()), "-r", "1",
                "-o", "csv"), Map.of());
        return parseLlamaBenchCsv(csv);
    }

    /** Thread count to {@code avg_ts} from llama-bench's CSV (header line, then one quoted row per test). */
    static Map<Integer, Double> parseLlamaBenchCsv(String csv) {
        Map<Integer, Double> out = new LinkedHashMap<>();
        List<String> header = null;
        for (String line : csv.split("\n")) {
            if (line.startsWith("build_commit,")) {
                header = Arrays.asList(line.trim().split(","));
                continue;
            }
            if (header == null || !line.startsWith("\"")) {
                continue;
            }
            List<String> cells = new ArrayList<>();
            for (String cell : line.trim().split("\",\"")) {
                cells.add(cell.replace("\"", ""));
            }
            int t = header.indexOf("n_threads");
            int ts = header.indexOf("avg_ts");
            if (t < 0 || ts < 0 || cells.size() != header.size()) {
                continue;
            }
            out.put(Integer.parseInt(cells.get(t)), Double.parseDouble(cells.get(ts)));
        }
        return out;
    }

    private static boolean executable(Path binary) {
        return binary != null && Files.isRegularFile(binary) && Files.isExecutable(binary);
    }

    /** Runs a command to completion, stdout and stderr together (through a file, so a hung child can be killed). */
    private static String run(List<String> command, Map<String, String> env) throws IOException, InterruptedException {
        Path log = Files.createTempFile("arbor-peer", ".log");
        try {
            ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile());
            pb.environment().putAll(env);
            Process p = pb.start();
            if (!p.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                p.destroyForcibly().waitFor();
                return "";
            }
            return Files.readString(log, StandardCharsets.ISO_8859_1);   // peers print arbitrary token bytes
        } finally {
            Files.deleteIfExists(log);
        }
    }
}
