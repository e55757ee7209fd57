package dev.arbor.models.images;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.PartProperties;
import dev.arbor.api.tokenizer.Tokenizer;
import dev.arbor.api.tokenizer.TokenizerProvider;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import org.osgi.service.component.annotations.Component;

/**
 * Opens {@link VqFile} image tokenizers (patch VQ and multi-scale VQ) as {@link VqImageTokenizer}s: the pipeline
 * tokenizer format {@code image-vq}. Option {@code classes} (a list of names, index = class) names the classes the
 * priors are conditioned on; the default is Fashion-MNIST's ten, lower case. Pure Java and stateless, so the bundle
 * can be updated or refreshed while the server runs.
 */
@Component(immediate = true, service = TokenizerProvider.class, property = {PartProperties.NAME + "=image-vq",
        PartProperties.DESCRIPTION + "=image VQ tokenizer (patch VQ raster or VAR multi-scale residual VQ)"})
public class ImageVqTokenizerProvider implements TokenizerProvider {
    /** Option key: the class names, index = class (default {@link VqImageTokenizer#FASHION_CLASSES}). */
    public static final String CLASSES = "classes";

    @Override
    public Tokenizer open(Path path, Options options) {
        return VqImageTokenizer.read(path, classNames(options));
    }

    /** The option {@value #CLASSES} checked (distinct non-empty names, lower-cased), or Fashion-MNIST's ten. */
    static List<String> classNames(Options options) {
        Options o = options == null ? Options.empty() : options;
        List<String> classes = o.has(CLASSES) ? o.strings(CLASSES).stream()
                .map(c -> c.strip().toLowerCase(Locale.ROOT)).toList() : VqImageTokenizer.FASHION_CLASSES;
        if (classes.isEmpty() || classes.stream().anyMatch(String::isEmpty)
                || classes.stream().distinct().count() != classes.size()) {
            throw ArborException.invalid("tokenizer option '" + CLASSES + "' must list distinct non-empty class names,"
                    + " got " + classes);
        }
        return classes;
    }
}
