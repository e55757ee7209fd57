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
 * Opens {@link PatchPcaCodec} files as {@link dev.arbor.api.image.LatentImageCodec}s: the pipeline tokenizer format
 * {@code image-latent}, for priors over continuous latents (xAR, continuous speculative decoding). Option
 * {@code classes} as for {@code image-vq} (default: Fashion-MNIST's ten, lower case). Pure Java and stateless.
 */
@Component(immediate = true, service = TokenizerProvider.class, property = {PartProperties.NAME + "=image-latent",
        PartProperties.DESCRIPTION + "=continuous image latents (4x4 patch PCA) with an 8-bit wire form"})
public class ImageLatentCodecProvider implements TokenizerProvider {
    /** Option key: the class names, index = class (default {@link VqImageTokenizer#FASHION_CLASSES}). */
    public static final String CLASSES = ImageVqTokenizerProvider.CLASSES;

    @Override
    public Tokenizer open(Path path, Options options) {
        Options o = options == null ? Options.empty() : options;
        List<String> classes = o.has(CLASSES) ? o.strings(CLASSES).stream()
                .map(c -> c.strip().toLowerCase(Locale.ROOT)).toList() : VqImageTokenizer.FASHION_CLASSES;
        if (classes.isEmpty() || classes.stream().anyMatch(String::isEmpty)
                || classes.stream().distinct().count() != classes.size()) {
            throw ArborException.invalid("tokenizer option '" + CLASSES + "' must list distinct non-empty class names,"
                    + " got " + classes);
        }
        return PatchPcaCodec.read(path, classes);
    }
}
