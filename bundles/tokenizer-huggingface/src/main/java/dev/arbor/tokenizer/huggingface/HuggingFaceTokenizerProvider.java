package dev.arbor.tokenizer.huggingface;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.PartProperties;
import dev.arbor.api.tokenizer.Tokenizer;
import dev.arbor.api.tokenizer.TokenizerProvider;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Deactivate;

/**
 * Opens Hugging Face {@code tokenizer.json} files (a file, or a folder holding one) as {@link Tokenizer}s.
 *
 * <p>Options: {@value HuggingFaceTokenizer#CLEAN_UP_OPTION} (boolean, default false).
 *
 * <p>Tokenizers are immutable and thread-safe, so one instance per unchanged file and options is shared by every
 * pipeline that opens it. That also bounds the native memory this provider holds (the API gives pipelines no way to
 * release a tokenizer), and lets it close every native handle when the component is deactivated. A tokenizer still
 * referenced after that fails with UNAVAILABLE instead of touching freed memory.
 */
@Component(immediate = true, service = TokenizerProvider.class, property = {
    PartProperties.NAME + "=huggingface",
    PartProperties.DESCRIPTION + "=Hugging Face tokenizer.json through DJL's tokenizers (Rust), offline"
})
public final class HuggingFaceTokenizerProvider implements TokenizerProvider {
    private final ConcurrentMap<Key, HuggingFaceTokenizer> open = new ConcurrentHashMap<>();
    private volatile boolean active = true;

    /** Same file (by real path, size and modification times of it and its config) and same options. */
    private record Key(Path file, long size, FileTime modified, FileTime configModified, Options options) {
    }

    @Override
    public Tokenizer open(Path path, Options options) {
        if (!active) {
            throw new ArborException(ArborException.Kind.UNAVAILABLE, "the huggingface tokenizer provider was"
                    + " stopped; cannot open " + path);
        }
        Options opts = options == null ? Options.empty() : options;
        Key key = key(path, opts);
        if (key == null) {
            return HuggingFaceTokenizer.open(path, opts); // let open() report the missing file precisely
        }
        HuggingFaceTokenizer tokenizer = open.computeIfAbsent(key, k -> HuggingFaceTokenizer.open(path, opts));
        if (!active) {
            // deactivate() ran while this was opening: do not leak a handle it could not see.
            open.remove(key, tokenizer);
            tokenizer.close();
            throw new ArborException(ArborException.Kind.UNAVAILABLE, "the huggingface tokenizer provider was"
                    + " stopped while opening " + path);
        }
        return tokenizer;
    }

    /** Frees every native tokenizer this provider created; calls already running finish first. */
    @Deactivate
    void deactivate() {
        active = false;
        List<HuggingFaceTokenizer> toClose = new ArrayList<>(open.values());
        open.clear();
        toClose.forEach(HuggingFaceTokenizer::close);
    }

    /** Number of distinct tokenizers held open (for tests). */
    int openCount() {
        return open.size();
    }

    private static Key key(Path path, Options options) {
        if (path == null) {
            return null;
        }
        try {
            Path file = path.toRealPath();
            if (Files.isDirectory(file)) {
                file = file.resolve("tokenizer.json").toRealPath();
            }
            Path config = file.resolveSibling(TokenizerFiles.CONFIG_FILE);
            FileTime configModified = Files.exists(config) ? Files.getLastModifiedTime(config) : null;
            return new Key(file, Files.size(file), Files.getLastModifiedTime(file), configModified, options);
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }
}
