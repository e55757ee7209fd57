package dev.arbor.tests.serving;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * One {@code arbor serve} process of an installation ({@code bin/arbor}) on a port of its own (the system picks a
 * free one), as a replica behind a load balancer: started, awaited by its own "Arbor serving" line, stopped with
 * SIGTERM (the graceful drain) and awaited by its exit. Its output (standard output and error together) is kept for
 * assertions and failure messages.
 */
public final class ArborReplica implements AutoCloseable {
    /** What 'arbor serve' prints once its HTTP server listens and the pipelines have settled. */
    private static final Pattern SERVING = Pattern.compile("Arbor serving (http://\\S+:\\d+)");

    private final String name;
    private final Process process;
    private final List<String> log = new ArrayList<>();
    private final CompletableFuture<URI> serving = new CompletableFuture<>();
    private final Thread reader;
    private final Path logFile;

    private ArborReplica(String name, Process process, Path logFile) {
        this.name = name;
        this.process = process;
        this.logFile = logFile;
        this.reader = new Thread(this::readOutput, "replica-" + name + "-output");
        reader.setDaemon(true);
        reader.start();
    }

    /**
     * Starts {@code home/bin/arbor serve --port 0 --no-admin} plus {@code extraArgs}, with a model cache of its own
     * under {@code work} (replicas of one installation must not convert models into the same folder at once) and
     * the log level INFO (the drain reports itself there); its output also goes to {@code work/NAME.log}.
     *
     * @param env extra environment variables (JAVA_OPTS, for one, is appended to)
     */
    public static ArborReplica start(Path home, String name, Path work, List<String> extraArgs,
                                     Map<String, String> env) throws IOException {
        Path arbor = home.resolve("bin/arbor");
        if (!Files.isExecutable(arbor)) {
            throw new IllegalStateException(arbor + " is missing: build the distribution first (mvn install"
                    + " -DskipTests -pl distribution -am)");
        }
        Path cache = Files.createDirectories(work.resolve(name + "-cache"));
        List<String> command = new ArrayList<>(List.of(arbor.toString(), "serve", "--port", "0", "--no-admin"));
        command.addAll(extraArgs);
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
        Map<String, String> environment = builder.environment();
        environment.put("ARBOR_LOG_LEVEL", "INFO");
        environment.putAll(env);
        environment.put("JAVA_OPTS", (environment.getOrDefault("JAVA_OPTS", "") + " -Darbor.cache=" + cache).trim());
        return new ArborReplica(name, builder.start(), work.resolve(name + ".log"));
    }

    public String name() {
        return name;
    }

    public long pid() {
        return process.pid();
    }

    /** The base URI once the replica serves; fails when it exits first or {@code timeout} passes. */
    public URI awaitServing(Duration timeout) throws InterruptedException {
        try {
            return serving.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            throw new IllegalStateException("replica " + name + " " + e.getCause().getMessage() + ":\n" + logText());
        } catch (TimeoutException e) {
            throw new IllegalStateException("replica " + name + " did not serve within " + timeout + ":\n"
                    + logText());
        }
    }

    /** Sends SIGTERM: the runtime drains and stops. */
    public void terminate() {
        // through the handle: Process.destroy() also closes our end of the output pipe, and the drain's own log
        // lines, written after the signal, would be lost
        process.toHandle().destroy();
    }

    /** The exit status once the process ended, waiting at most {@code timeout}; fails when it is still running. */
    public int awaitExit(Duration timeout) throws InterruptedException {
        if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
            throw new IllegalStateException("replica " + name + " still runs " + timeout + " after it was told to"
                    + " stop:\n" + logText());
        }
        reader.join(timeout.toMillis()); // the last lines, which the drain writes just before the exit
        return process.exitValue();
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    /** Everything the process printed so far. */
    public String logText() {
        synchronized (log) {
            return String.join("\n", log);
        }
    }

    @Override
    public void close() throws InterruptedException {
        if (process.isAlive()) {
            process.toHandle().destroy();
            if (!process.waitFor(30, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
            }
        }
    }

    private void readOutput() {
        try (BufferedReader lines = new BufferedReader(new InputStreamReader(process.getInputStream(),
                StandardCharsets.UTF_8));
             java.io.Writer file = Files.newBufferedWriter(logFile, StandardCharsets.UTF_8)) {
            String line;
            while ((line = lines.readLine()) != null) {
                synchronized (log) {
                    log.add(line);
                }
                file.write(line);
                file.write('\n');
                file.flush();
                Matcher m = SERVING.matcher(line);
                if (m.find()) {
                    serving.complete(URI.create(m.group(1)));
                }
            }
        } catch (IOException e) {
            // the process is gone; its exit is reported below
        }
        serving.completeExceptionally(new IllegalStateException("exited before serving"));
    }
}
