package dev.arbor.generation.speculative;

import dev.arbor.api.Options;
import dev.arbor.api.generation.Cancellation;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.ModelResolver;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.pipeline.ModelRef;
import dev.arbor.api.sampling.Sampler;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.function.Supplier;

/** A ModelResolver for unit tests: a fixed target reference, and a function from draft references to backends. */
final class TestResolvers {
    static final ModelRef TARGET_REF = new ModelRef("test", "joint", "/models/target.bin", Options.empty());

    private TestResolvers() {
    }

    static final class Recording implements ModelResolver {
        final List<ModelRef> opened = new ArrayList<>();
        private final ModelRef target;
        private final Function<ModelRef, ModelBackend> open;

        Recording(ModelRef target, Function<ModelRef, ModelBackend> open) {
            this.target = target;
            this.open = open;
        }

        @Override
        public ModelRef target() {
            return target;
        }

        @Override
        public ModelBackend open(ModelRef ref) {
            opened.add(ref);
            return open.apply(ref);
        }
    }

    static Recording always(ModelBackend draft) {
        return new Recording(TARGET_REF, ref -> draft);
    }

    static GenerationContext context(ModelBackend target, int[] prompt, int maxNew, Supplier<Sampler> samplers,
                                     int[] stop, long seed, Map<String, ?> options, ModelResolver models) {
        return new GenerationContext(target, null, prompt, maxNew, samplers, stop, seed, Options.of(options),
                Cancellation.NEVER, models);
    }
}
