package dev.arbor.models.images;

import dev.arbor.api.Options;
import dev.arbor.api.PartProperties;
import dev.arbor.api.tokenizer.Tokenizer;
import dev.arbor.api.tokenizer.TokenizerProvider;
import java.nio.file.Path;
import org.osgi.service.component.annotations.Component;

/**
 * Opens {@link CoarseToFineVq} files as {@link CoarseToFineImageTokenizer}s: the pipeline tokenizer format
 * {@code image-1d} (1D coarse-to-fine tokens, DetailFlow's next-detail order). Option {@code classes} as for
 * {@code image-vq} ({@link ImageVqTokenizerProvider#CLASSES}). Pure Java and stateless.
 */
@Component(immediate = true, service = TokenizerProvider.class, property = {PartProperties.NAME + "=image-1d",
        PartProperties.DESCRIPTION + "=1D coarse-to-fine image tokenizer (residual VQ in a PCA basis; any prefix"
                + " decodes to a coarse image)"})
public class ImageCoarseToFineTokenizerProvider implements TokenizerProvider {
    @Override
    public Tokenizer open(Path path, Options options) {
        return CoarseToFineImageTokenizer.read(path, ImageVqTokenizerProvider.classNames(options));
    }
}
