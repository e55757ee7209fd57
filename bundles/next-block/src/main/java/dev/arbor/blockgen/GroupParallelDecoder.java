package dev.arbor.blockgen;

import dev.arbor.api.ArborException;
import dev.arbor.api.generation.FinishReason;
import dev.arbor.api.generation.GenerationContext;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.TokenSink;
import dev.arbor.api.image.ImageLayout;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelCard;
import dev.arbor.api.sampling.Sampler;
import dev.arbor.api.sampling.SamplingContext;
import dev.arbor.api.sampling.Selection;
import dev.arbor.autoregressive.DecodeChecks;
import dev.arbor.autoregressive.TokenOutput;
import dev.arbor.imagegen.CodeMask;
import dev.arbor.imagegen.ImageCanvas;
import dev.arbor.imagegen.ImageRequest;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * The group-parallel decode loop of a {@link GroupLayout} prior (Next Block Prediction, Ren et al. 2025,
 * {@code github.com/RenShuhuai-Andy/NBP : nbp/modules/gpt.py hybrid_sample_with_past}; DetailFlow,
 * {@code autoregressive/models/generate.py generate_group_par}), shared by the generators that decode such priors.
 *
 * <p><b>Per step</b> ({@link GroupLayout#steps()}): cancellation check; one forward appending the step's positions
 * to the KV state(s) — {@code [class]}, then {@code t_0..t_{c-2}} one per forward, then the group
 * {@code [t_{c-1}, q_1..q_{G-1}]}, then each group just sampled — with the conditional row and, when guidance is on,
 * the unconditional row ({@code [null class] + ..}; one batch-2 forward when the backend lists BATCH, else two
 * states); for each of the step's rows in order: {@link StepGuidance#combine} at the step, ids that are not codes set
 * to {@code -inf} ({@link CodeMask}), and the {@link RowSampler} (by default the pipeline's processor chain and
 * selector), every row of a step seeing the history before the step (the rows are sampled independently, as NBP's
 * and DetailFlow's reference loops do); then the step's codes are committed in order through the sink and, after the
 * causal start and after every group, the partial image is streamed as a canvas ({@link ImageCanvas}). With
 * {@code G = 1} each step is one causal append and this is raster decoding, forward for forward.
 *
 * <p><b>Result</b>: the image's codes; STOP for a whole image or when the sink refused a token, CANCELLED when
 * cancelled. <b>Stats</b> (after the caller's): {@code forwards}, {@code group.size}, {@code group.causal_num},
 * {@code group.steps}, {@code cfg.mode} ({@code none}, {@code batch}, {@code two_states}), {@code cfg.guided_steps},
 * {@code image.class}, {@code image.canvases}, {@code wall_nanos}.
 */
public final class GroupParallelDecoder {

    /** How the guidance rows are computed. */
    public enum Mode {
        /** No guidance: the conditional row alone. */
        NONE,
        /** One state of two rows, one batch-2 forward per step (the backend lists BATCH). */
        BATCH,
        /** Two single-row states, two forwards per step (backends without BATCH). */
        TWO_STATES;

        /** The name in the stats. */
        public String wireName() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** Draws one image token from its row's guided, code-only logits. */
    @FunctionalInterface
    public interface RowSampler {
        /**
         * The selection (a code) for image token {@code index}, sampled at step {@code step} from {@code logits}
         * (the caller's copy, which may be modified) with {@code history} the committed tokens before the step.
         */
        Selection sample(float[] logits, int index, GroupLayout.Step step, SamplingContext history);

        /** The pipeline's processor chain and selector (top-k, top-p, temperature, ...), one row at a time. */
        static RowSampler of(Sampler sampler) {
            Objects.requireNonNull(sampler, "sampler");
            return (logits, index, step, history) -> sampler.sample(logits, history);
        }
    }

    private GroupParallelDecoder() {
    }

    /** The guidance mode for {@code guidance} on {@code card}'s backend. */
    public static Mode mode(StepGuidance guidance, ModelCard card) {
        return guidance.inert() ? Mode.NONE : card.supports(Capability.BATCH) ? Mode.BATCH : Mode.TWO_STATES;
    }

    /**
     * Decodes one image of {@code image}'s class with {@code groups} ({@link GroupLayout#checkModel} must have
     * accepted the model), {@code guidance} and {@code sampler}; {@code stats} are the caller's entries, the
     * loop's are appended.
     */
    public static GenerationResult decode(GenerationContext context, TokenSink sink, ImageRequest image,
                                          GroupLayout groups, StepGuidance guidance, RowSampler sampler,
                                          Map<String, Object> stats) {
        long start = System.nanoTime();
        ModelBackend model = context.model();
        ModelCard card = model.card();
        ImageLayout layout = image.layout();
        if (!layout.equals(groups.image())) {
            throw new IllegalArgumentException("the group layout is over " + groups.image() + ", the request's "
                    + "image over " + layout);
        }
        Mode mode = mode(guidance, card);
        int n = groups.tokens();
        List<GroupLayout.Step> steps = groups.steps();
        int total = steps.size();
        TokenOutput output = new TokenOutput(context, sink, new int[] {image.classToken()}, n);
        ImageCanvas canvas = new ImageCanvas(sink, n, image.nullClassToken());
        int[] tokens = new int[n];
        int guidedSteps = 0;
        GroupRows rows = new GroupRows(model, groups, mode);
        try {
            stepLoop:
            for (GroupLayout.Step step : steps) {
                if (output.cancelled()) {
                    break;
                }
                int[] condIn = groups.inputs(step.from(), step.to(), image.classToken(), tokens);
                int[] uncondIn = mode == Mode.NONE ? null
                        : groups.inputs(step.from(), step.to(), image.nullClassToken(), tokens);
                float[][][] both = rows.step(step, condIn, uncondIn);
                if (mode != Mode.NONE) {
                    guidedSteps += guidance.guides(step.index(), total) ? 1 : 0;
                }
                Selection[] selections = new Selection[step.size()];
                for (int i = 0; i < step.size(); i++) {
                    float[] logits = mode == Mode.NONE ? both[0][i]
                            : guidance.combine(both[0][i], both[1][i], step.index(), total, card.name());
                    int index = groups.target(step.from() + i);
                    selections[i] = sampler.sample(CodeMask.apply(logits, layout.codes()), index, step,
                            output.history());
                    checkCode(selections[i].token(), layout, card);
                }
                for (int i = 0; i < step.size(); i++) {
                    int token = selections[i].token();
                    tokens[step.from() + i] = token;
                    canvas.put(token);
                    if (!output.emit(token, selections[i])) {
                        break stepLoop;
                    }
                }
                if (groups.groupSize() == 1 ? rowEnd(layout, step.to())
                        : step.size() > 1 || step.to() == groups.causalNum()) {
                    canvas.stream();
                }
            }
        } finally {
            rows.close();
        }
        Map<String, Object> all = new LinkedHashMap<>(stats);
        all.put("forwards", rows.forwards());
        all.put("group.size", groups.groupSize());
        all.put("group.causal_num", groups.causalNum());
        all.put("group.steps", total);
        all.put("cfg.mode", mode.wireName());
        all.put("cfg.guided_steps", guidedSteps);
        all.put("image.class", image.classIndex());
        all.put("image.canvases", canvas.steps());
        all.put("wall_nanos", System.nanoTime() - start);
        GenerationResult result = output.result(rows.forwards(), all);
        if (result.finishReason() == FinishReason.LENGTH && result.tokens().length == n) {
            // a whole image is the natural end of the sequence, not a cut-off
            result = new GenerationResult(result.tokens(), result.logProbs(), FinishReason.STOP,
                    result.forwardPasses(), result.stats());
        }
        return result;
    }

    /** With one-token groups the canvas streams after every image row of a single-scale layout, as raster does. */
    private static boolean rowEnd(ImageLayout layout, int decoded) {
        return layout.scaleCount() != 1 || decoded % layout.side(0) == 0;
    }

    /** The selector must honour the -inf of non-codes; anything else is a plugin bug, named as such. */
    private static void checkCode(int token, ImageLayout layout, ModelCard card) {
        DecodeChecks.checkToken(token, card);
        if (!layout.isCode(token)) {
            throw new ArborException(ArborException.Kind.PLUGIN_FAILURE, "the token selector chose id " + token
                    + ", which is not a code (codes are 0-" + (layout.codes() - 1) + ") although its logit was -inf");
        }
    }
}
