package dev.arbor.generation.distilled;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.PartProperties;
import dev.arbor.api.image.ImageTokenizer;
import dev.arbor.api.sampling.SamplingOptions;
import dev.arbor.api.sampling.TokenSelector;
import dev.arbor.api.sampling.TokenSelectorFactory;
import dev.arbor.api.tokenizer.Tokenizer;
import dev.arbor.api.tokenizer.TokenizerProvider;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.osgi.framework.BundleContext;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.Reference;

/**
 * Part {@code flow-map}: Distilled Decoding's teacher flow map ({@link FlowMapSelector}) as a token selector, so any
 * image pipeline keeps its token law while its tokens become a deterministic function of per-position noise.
 *
 * <p><b>The codebook.</b> A selector sees only logits, so the code vectors come from option
 * {@value #CODEBOOK}: the image tokenizer file whose {@link ImageTokenizer#codeVectors()} the map integrates over
 * (the pipeline's own tokenizer, e.g. {@code ${arbor.home}/models/fashion-vq/fashion-patch-vq.bin}), opened with the
 * {@code image-vq} tokenizer provider and kept (per file, size and modification time). Pipelines set it in the
 * selector's options, which requests cannot override; a relative path is resolved against the models folder, and
 * the file must lie inside the models folder ({@code arbor.models}) or the installation's {@code models/}, so a
 * request can never make the server open other files. Option {@value #STEPS} (default
 * {@value FlowMap#DEFAULT_STEPS}, 200-4096): Euler steps. Option {@code temperature} 0 selects greedily (argmax,
 * no noise), as the {@code sample} selector does.
 */
@Component(service = TokenSelectorFactory.class, property = {
    PartProperties.NAME + "=" + FlowMapSelectorFactory.NAME,
    PartProperties.DESCRIPTION + "=Distilled Decoding's teacher flow map: a deterministic noise-to-token map with the "
            + "softmax's law over the codebook named by flow_codebook (greedy when temperature is 0)"})
public final class FlowMapSelectorFactory implements TokenSelectorFactory {
    /** The selector's name ({@code arbor.part}). */
    public static final String NAME = "flow-map";
    /** Option: the image tokenizer file holding the code vectors. */
    public static final String CODEBOOK = "flow_codebook";
    /** Option: Euler steps of the flow map. */
    public static final String STEPS = "flow_steps";
    private static final int MAX_CACHED = 8;

    @Reference(target = "(" + PartProperties.NAME + "=image-vq)")
    private TokenizerProvider images;
    private List<Path> roots;
    private final Map<String, Codebook> cache = new ConcurrentHashMap<>();

    /** OSGi: the image-vq provider is injected, the models folders come from the framework properties. */
    public FlowMapSelectorFactory() {
    }

    /** Tests: {@code roots} are the folders codebook files may come from (the first resolves relative paths). */
    FlowMapSelectorFactory(TokenizerProvider images, List<Path> roots) {
        this.images = images;
        setRoots(roots);
    }

    @Activate
    void activate(BundleContext context) {
        setRoots(roots(context.getProperty("arbor.models"), context.getProperty("arbor.home")));
    }

    private void setRoots(List<Path> r) {
        if (r.isEmpty()) {
            throw new IllegalArgumentException("at least one models folder is needed");
        }
        this.roots = r.stream().map(p -> p.toAbsolutePath().normalize()).toList();
    }

    private static List<Path> roots(String models, String home) {
        List<Path> r = new ArrayList<>();
        if (models != null && !models.isBlank()) {
            r.add(Path.of(models));
        }
        if (home != null && !home.isBlank()) {
            r.add(Path.of(home, "models"));
        }
        if (r.isEmpty()) {
            r.add(Path.of("models"));
        }
        return r;
    }

    @Override
    public TokenSelector create(Options options) {
        int steps = options.integer(STEPS, FlowMap.DEFAULT_STEPS, 200, 4096);
        boolean greedy = SamplingOptions.greedy(options);
        String name = options.string(CODEBOOK, null);
        if (name == null || name.isBlank()) {
            throw ArborException.invalid("selector " + NAME + " needs option '" + CODEBOOK + "': the image tokenizer "
                    + "file whose code vectors the flow map uses (set it in the pipeline's selector options, e.g. "
                    + "\"${arbor.home}/models/fashion-vq/fashion-patch-vq.bin\")");
        }
        Codebook c = codebook(resolve(name), steps);
        return new FlowMapSelector(c.codes(), c.map(), steps, greedy);
    }

    /** The codebook file, which must lie inside a models folder. */
    Path resolve(String name) {
        Path p;
        try {
            p = Path.of(name);
        } catch (InvalidPathException e) {
            throw ArborException.invalid("option '" + CODEBOOK + "' is not a path: " + e.getMessage());
        }
        Path file = (p.isAbsolute() ? p : roots.get(0).resolve(p)).toAbsolutePath().normalize();
        Path real;
        try {
            real = file.toRealPath();
        } catch (IOException e) {
            throw new ArborException(ArborException.Kind.NOT_FOUND, "option '" + CODEBOOK + "': " + file
                    + " does not exist; name the image tokenizer file of the pipeline (inside " + roots + ")");
        }
        for (Path root : roots) {
            Path r;
            try {
                r = root.toRealPath();
            } catch (IOException e) {
                continue;
            }
            if (real.startsWith(r)) {
                return real;
            }
        }
        throw ArborException.invalid("option '" + CODEBOOK + "': " + file + " is outside the models folders "
                + roots + "; the flow map reads codebooks from installed models only");
    }

    /** A codebook file's vectors and their flow map. */
    private record Codebook(float[][] codes, FlowMap map) {
    }

    private Codebook codebook(Path file, int steps) {
        String key;
        try {
            key = file + "|" + Files.size(file) + "|" + Files.getLastModifiedTime(file).toMillis() + "|" + steps;
        } catch (IOException e) {
            throw new ArborException(ArborException.Kind.NOT_FOUND, "option '" + CODEBOOK + "': cannot read " + file
                    + ": " + e.getMessage());
        }
        Codebook cached = cache.get(key);
        if (cached != null) {
            return cached;
        }
        Tokenizer t = images.open(file, Options.empty());
        if (!(t instanceof ImageTokenizer image)) {
            throw ArborException.invalid("option '" + CODEBOOK + "': " + file + " is not an image tokenizer");
        }
        float[][] codes = image.codeVectors().orElseThrow(() -> ArborException.invalid("option '" + CODEBOOK + "': "
                + file + " has no code vectors (a continuous codec?); the flow map needs a VQ codebook"));
        if (codes.length != image.layout().codes()) {
            throw ArborException.badModel(file + " has " + codes.length + " code vectors for "
                    + image.layout().codes() + " codes", null);
        }
        Codebook c = new Codebook(codes, new FlowMap(codes, steps));
        if (cache.size() >= MAX_CACHED) {
            cache.clear(); // pipelines name one or two codebooks; a bound keeps hostile option values harmless
        }
        cache.put(key, c);
        return c;
    }
}
