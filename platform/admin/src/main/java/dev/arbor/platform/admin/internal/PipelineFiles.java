package dev.arbor.platform.admin.internal;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.arbor.api.pipeline.PartRef;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Optional;

/**
 * The operator's pipeline files ({@code <arbor.etc>/pipelines/*.json}, loaded by the runtime): finds the file of a
 * pipeline and rewrites one of its parts in place, atomically (a temporary file beside it, then a rename), so a
 * change made through the admin tools survives a restart and the file never holds half a write. Everything else in
 * the file, variables such as {@code ${arbor.models}} included, stays as the operator wrote it.
 */
final class PipelineFiles {
    /** One writer at a time, across the REST endpoint and the Gogo commands. */
    private static final Object WRITE_LOCK = new Object();
    private final ObjectMapper json = new ObjectMapper();
    private final Path folder;

    PipelineFiles(Path folder) {
        this.folder = folder;
    }

    /** The file declaring pipeline {@code name} (its "name", else its file name, as the runtime reads it). */
    Optional<Path> fileOf(String name) throws IOException {
        if (folder == null || !Files.isDirectory(folder)) {
            return Optional.empty();
        }
        try (DirectoryStream<Path> files = Files.newDirectoryStream(folder, "*.json")) {
            for (Path file : files) {
                String fileName = file.getFileName().toString();
                String declared;
                try {
                    declared = json.readTree(file.toFile()).path("name")
                            .asText(fileName.substring(0, fileName.length() - ".json".length()));
                } catch (IOException unreadable) {
                    continue; // the runtime reports broken files; they declare nothing
                }
                if (declared.equals(name)) {
                    return Optional.of(file);
                }
            }
        }
        return Optional.empty();
    }

    /** Rewrites {@code file} with {@code generator} as its "generator" (a name alone when it has no options). */
    void writeGenerator(Path file, PartRef generator) throws IOException {
        synchronized (WRITE_LOCK) {
            JsonNode root = json.readTree(file.toFile());
            if (!(root instanceof ObjectNode object)) {
                throw new IOException(file + " is not a JSON object");
            }
            if (generator.options().asMap().isEmpty()) {
                object.put("generator", generator.name());
            } else {
                ObjectNode node = json.createObjectNode();
                node.put("name", generator.name());
                node.set("options", json.valueToTree(generator.options().asMap()));
                object.set("generator", node);
            }
            byte[] bytes = (json.writerWithDefaultPrettyPrinter().writeValueAsString(object) + "\n")
                    .getBytes(StandardCharsets.UTF_8);
            // hidden and not *.json: the runtime's watcher never reads the temporary file
            Path temp = Files.createTempFile(file.getParent(), "." + file.getFileName(), ".tmp");
            try {
                Files.write(temp, bytes);
                try {
                    Files.setPosixFilePermissions(temp, Files.getPosixFilePermissions(file));
                } catch (UnsupportedOperationException notPosix) {
                    // keeps the default permissions
                }
                try {
                    Files.move(temp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                } catch (AtomicMoveNotSupportedException e) {
                    Files.move(temp, file, StandardCopyOption.REPLACE_EXISTING);
                }
            } finally {
                Files.deleteIfExists(temp);
            }
        }
    }
}
