package dev.arbor.autoregressive;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.generation.ModelResolver;
import dev.arbor.api.pipeline.ModelRef;
import java.util.Map;

/**
 * The one reader of the options that name further models — a draft ({@value #DRAFT} or {@value #DRAFT_LAYERS}), a
 * guide — for every generator that takes them. A request names such a model by its registry name
 * ({@code "draft": "NAME"} or {@code {"model": "NAME"}}); an operator's pipeline file may give a full reference
 * ({@link ModelResolver#reference} reads both). Refusals name the option and what to give instead.
 */
public final class ModelOptions {
    /** Option: the draft model, a registry name. */
    public static final String DRAFT = "draft";
    /** Option: a self-draft made of the target's first N layers (backend option {@code keep_layers=N}). */
    public static final String DRAFT_LAYERS = "draft_layers";
    /** The most layers {@value #DRAFT_LAYERS} accepts (a guard against typos). */
    public static final int MAX_DRAFT_LAYERS = 1024;

    private ModelOptions() {
    }

    /**
     * The draft a generator was given: a model reference ({@code layers} 0), or the target's first {@code layers}
     * layers ({@code model} null, resolved by {@link #resolve} once the target's reference is needed).
     *
     * @param description how stats and errors name the draft
     */
    public record DraftChoice(ModelRef model, int layers, String description) {

        /** True for the layer-skip self-draft. */
        public boolean layerSkip() {
            return model == null;
        }

        /**
         * The draft's reference: the named model, or the target's own reference with {@code keep_layers=layers};
         * a target that keeps fewer layers itself, or a context that does not know its target, is refused.
         */
        public ModelRef resolve(ModelResolver models) {
            if (model != null) {
                return model;
            }
            ModelRef target = models.target();
            if (target == null) {
                throw ArborException.invalid("option '" + DRAFT_LAYERS + "' builds the draft from the target's model "
                        + "reference, which this context does not know; give option '" + DRAFT + "' instead");
            }
            int targetLayers = target.options().integer("keep_layers", 0, 0, Integer.MAX_VALUE);
            if (targetLayers > 0 && layers >= targetLayers) {
                throw ArborException.invalid("option '" + DRAFT_LAYERS + "' is " + layers + " but the target itself "
                        + "keeps only " + targetLayers + " layers (keep_layers); a layer-skip draft needs fewer "
                        + "layers than the target, at most " + (targetLayers - 1));
            }
            return new ModelRef(target.backend(), target.format(), target.path(),
                    target.options().with("keep_layers", layers));
        }
    }

    /**
     * Options {@value #DRAFT} and {@value #DRAFT_LAYERS}: exactly one must be given. A named draft is looked up in
     * the registry now (an unknown name is refused before any forward).
     *
     * @param generator how messages name the generator ({@code "speculative decoding"})
     */
    public static DraftChoice draft(Options options, ModelResolver models, String generator) {
        boolean hasDraft = options.has(DRAFT);
        boolean hasLayers = options.has(DRAFT_LAYERS);
        if (hasDraft && hasLayers) {
            throw ArborException.invalid(generator + ": options '" + DRAFT + "' and '" + DRAFT_LAYERS + "' both name "
                    + "a draft model; give only one, not both");
        }
        if (!hasDraft && !hasLayers) {
            throw ArborException.invalid(generator + " needs a draft model: give option '" + DRAFT + "' (the name of "
                    + "a model in the installation's model registry sharing the target's vocabulary, e.g. \"" + DRAFT
                    + "\": \"NAME\") or '" + DRAFT_LAYERS + "' (N: the target's own first N layers, for llama2c "
                    + "models)");
        }
        if (hasLayers) {
            int layers = options.integer(DRAFT_LAYERS, 0, 1, MAX_DRAFT_LAYERS);
            return new DraftChoice(null, layers, "layer-skip draft (the target's first " + layers + " layers)");
        }
        Object raw = options.raw(DRAFT).orElse(null);
        ModelRef ref = models.reference(DRAFT, raw);
        return new DraftChoice(ref, 0, describe("draft model", raw));
    }

    /**
     * A model option a generator cannot run without (a guide): its reference, or a refusal saying
     * {@code "<need>: give option '<option>', the name of a model in the installation's model registry (e.g.
     * "<option>": "NAME"): <what>"}.
     */
    public static ModelRef required(Options options, ModelResolver models, String option, String need, String what) {
        if (!options.has(option)) {
            throw ArborException.invalid(need + ": give option '" + option + "', the name of a model in the "
                    + "installation's model registry (e.g. \"" + option + "\": \"NAME\"): " + what);
        }
        return models.reference(option, options.raw(option).orElse(null));
    }

    /** How stats name a model option's value: {@code kind 'NAME'}, or {@code kind FILE} for an operator's path. */
    static String describe(String kind, Object value) {
        if (value instanceof String name) {
            return kind + " '" + name + "'";
        }
        if (value instanceof Map<?, ?> m && m.get("model") instanceof String name) {
            return kind + " '" + name + "'";
        }
        if (value instanceof Map<?, ?> m && m.get("path") instanceof String path) {
            return kind + " " + path.substring(Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\')) + 1);
        }
        return kind;
    }
}
