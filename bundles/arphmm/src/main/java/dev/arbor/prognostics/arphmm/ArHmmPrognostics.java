package dev.arbor.prognostics.arphmm;

import dev.arbor.api.ArborException;
import dev.arbor.api.prognostics.AssessRequest;
import dev.arbor.api.prognostics.Assessment;
import dev.arbor.api.prognostics.FitReport;
import dev.arbor.api.prognostics.FitRequest;
import dev.arbor.api.prognostics.Prognostics;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.osgi.framework.BundleContext;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.ConfigurationPolicy;
import org.osgi.service.component.annotations.Modified;

/**
 * The {@link Prognostics} service over ARPHMM models (Juesas, Ramasso et al., PHME 2016): serves the models declared
 * under {@code <arbor.etc>/prognostics/NAME.json}, within the limits of configuration {@value #PID}, and fits new
 * ones by {@link EmTrainer} for the operator (the CLI's {@code arbor prognostics fit}). The limits are the
 * configuration's {@code max_series_length}, {@code max_dimension}, {@code max_samples}, {@code max_horizon},
 * {@code max_forecast_values} and {@code max_rul_steps} (see {@link Limits}; absent keys keep their defaults).
 */
@Component(service = Prognostics.class, configurationPid = ArHmmPrognostics.PID,
        configurationPolicy = ConfigurationPolicy.OPTIONAL)
public class ArHmmPrognostics implements Prognostics {
    static final String PID = "dev.arbor.prognostics";

    private volatile DeclaredModels models;
    private volatile Assessor assessor;

    public ArHmmPrognostics() {
    }

    /** A service over {@code folder} with {@code limits} (tests and tools, outside a framework). */
    ArHmmPrognostics(Path folder, Limits limits) {
        this.models = new DeclaredModels(folder);
        this.assessor = new Assessor(limits);
    }

    @Activate
    void activate(BundleContext context, Map<String, Object> config) {
        String etc = context.getProperty("arbor.etc");
        models = new DeclaredModels(etc == null ? null : Path.of(etc, "prognostics"));
        modified(config);
    }

    @Modified
    void modified(Map<String, Object> config) {
        assessor = new Assessor(Limits.from(config, "configuration " + PID));
    }

    @Override
    public List<String> models() {
        return models.names();
    }

    @Override
    public Assessment assess(AssessRequest request) {
        if (request == null) {
            throw ArborException.invalid("no request");
        }
        ModelJson.Document doc = models.resolve(request.model());
        return assessor.assess(request.model(), doc.model(), request);
    }

    @Override
    public FitReport fit(FitRequest request) {
        if (request.name() == null || !DeclaredModels.NAME.matcher(request.name()).matches()) {
            throw ArborException.invalid("model name '" + DeclaredModels.shown(request.name()) + "' is not allowed:"
                    + " use letters, digits, '.', '_' or '-' (at most 64, starting with a letter or digit)");
        }
        Path folder = models.folder();
        if (folder == null) {
            throw ArborException.invalid("this runtime has no etc folder (framework property arbor.etc) to declare"
                    + " the model in");
        }
        Path target = folder.resolve(request.name() + ".json");
        if (Files.exists(target) && !request.replace()) {
            throw ArborException.invalid("prognostic model '" + request.name() + "' is already declared (" + target
                    + "); choose another name or replace it explicitly");
        }
        Topology topology = Topology.parse(request.topology() == null ? "left-right" : request.topology());
        EmSettings settings = EmSettings.of(request.states(), request.order(), topology)
                .withRestarts(request.restarts()).withIterations(request.maxIterations(), 1e-6)
                .withSeed(request.seed());
        EmTrainer.Result result = EmTrainer.fit(request.sequences(), request.plausibilities(), settings);
        long steps = 0;
        for (double[][] s : request.sequences()) {
            steps += s.length - request.order();
        }
        Map<String, Object> training = new LinkedHashMap<>();
        training.put("sequences", request.sequences().size());
        training.put("steps", steps);
        training.put("labelled", request.plausibilities() != null);
        training.put("restarts", settings.restarts());
        training.put("winning_restart", result.restart());
        training.put("iterations", result.iterations());
        training.put("log_likelihood", result.logLikelihood());
        training.put("seed", settings.seed());
        training.put("ridge", settings.ridge());
        training.put("covariance_floor", settings.covarianceFloor());
        String json = ModelJson.write(result.model(), request.description() == null ? "" : request.description(),
                training);
        try {
            Files.createDirectories(folder);
            Path temp = Files.createTempFile(folder, "." + request.name(), ".tmp");
            Files.writeString(temp, json, StandardCharsets.UTF_8);
            // atomic: a reader never sees half a declaration
            Files.move(temp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new ArborException(ArborException.Kind.INVALID_INPUT, "cannot write " + target + ": " + e
                    .getMessage(), e);
        }
        return new FitReport(request.name(), result.logLikelihood(), result.iterations(), result.restart(), steps,
                target.toString());
    }
}
