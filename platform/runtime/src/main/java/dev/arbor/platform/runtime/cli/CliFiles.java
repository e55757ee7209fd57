package dev.arbor.platform.runtime.cli;

import dev.arbor.api.ArborException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/**
 * Reads the text (and image) files named on the command line. {@code -} (or no file) means standard input, as in
 * other Unix tools; a file that is missing, unreadable or (for text) not UTF-8 is an {@link ArborException} whose
 * one-line message names it, which the command line prints without a stack trace.
 */
final class CliFiles {
    private CliFiles() {
    }

    /** True when {@code file} stands for standard input. */
    static boolean isStdin(Path file) {
        return file == null || file.toString().equals("-");
    }

    /**
     * The UTF-8 text of {@code file}, or of {@code stdin} for {@code -} or null.
     *
     * @param what what the file holds, for messages ("text", "API key")
     * @throws ArborException NOT_FOUND for a missing file, INVALID_INPUT for one that cannot be read as UTF-8 text
     */
    static String readText(Path file, String what, InputStream stdin) {
        try {
            if (isStdin(file)) {
                return StandardCharsets.UTF_8.newDecoder()
                        .decode(java.nio.ByteBuffer.wrap(stdin.readAllBytes())).toString();
            }
            if (Files.isDirectory(file)) {
                throw ArborException.invalid("the " + what + " file " + file + " is a directory");
            }
            return Files.readString(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            throw new ArborException(ArborException.Kind.NOT_FOUND, "the " + what + " file " + file
                    + " does not exist (give '-' to read standard input)", e);
        } catch (AccessDeniedException e) {
            throw ArborException.invalid("the " + what + " file " + file + " cannot be read: permission denied");
        } catch (CharacterCodingException e) {
            throw ArborException.invalid("the " + what + " " + (isStdin(file) ? "on standard input" : "file " + file)
                    + " is not UTF-8 text");
        } catch (IOException e) {
            throw ArborException.invalid("cannot read the " + what + " " + (isStdin(file) ? "from standard input"
                    : "file " + file) + ": " + e.getMessage());
        }
    }

    /**
     * The bytes of {@code file} (an image), or of {@code stdin} for {@code -} or null.
     *
     * @throws ArborException NOT_FOUND for a missing file, INVALID_INPUT for a directory or an unreadable file
     */
    static byte[] readBytes(Path file, String what, InputStream stdin) {
        try {
            if (isStdin(file)) {
                return stdin.readAllBytes();
            }
            if (Files.isDirectory(file)) {
                throw ArborException.invalid("the " + what + " file " + file + " is a directory");
            }
            return Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new ArborException(ArborException.Kind.NOT_FOUND, "the " + what + " file " + file
                    + " does not exist (give '-' to read standard input)", e);
        } catch (AccessDeniedException e) {
            throw ArborException.invalid("the " + what + " file " + file + " cannot be read: permission denied");
        } catch (IOException e) {
            throw ArborException.invalid("cannot read the " + what + " " + (isStdin(file) ? "from standard input"
                    : "file " + file) + ": " + e.getMessage());
        }
    }
}
