package dev.arbor.platform.runtime.cli;

import dev.arbor.api.ArborException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.function.BooleanSupplier;
import org.osgi.framework.BundleContext;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code arbor trust}: the operator's tools for the trust policy ({@code etc/trust/trusted-bundles.sha256}, the
 * digests of the jars {@code deploy/} may run): add a jar's digest with a comment naming the file, the bundle and the
 * day; list each digest with its comment and the deploy/ file that has it; revoke digests; retire the digests of
 * older versions of a bundle when trusting a new one. Edits keep every other line and replace the file atomically;
 * a running Arbor applies them at its next scan of deploy/. The work is {@link TrustEdits}'s; this class only parses
 * (it names no type of the deploy bundle, whose package the runtime imports optionally).
 */
@Command(name = "trust", mixinStandardHelpOptions = true,
        description = {"The trust policy: which jars deploy/ may run (etc/trust/trusted-bundles.sha256, one SHA-256"
                + " per line, '#' comments). A running Arbor applies each change at its next scan of deploy/:"
                + " a newly trusted jar there starts, a revoked digest's bundle is uninstalled.",
                "Upgrade a plugin: cp target/my-plugin-1.0.1.jar deploy/ && arbor trust add --supersede"
                        + " deploy/my-plugin-1.0.1.jar"})
final class TrustCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    private final Path trustFile;
    private final Path deploy;
    private final Clock clock;
    private final BooleanSupplier available;

    private TrustCommand(Path trustFile, Path deploy, Clock clock, BooleanSupplier available) {
        this.trustFile = trustFile;
        this.deploy = deploy;
        this.clock = clock;
        this.available = available;
    }

    /** The command for the installation the framework of {@code context} runs. */
    static CommandLine create(BundleContext context, PrintStream out) {
        String home = context.getProperty("arbor.home");
        String etc = context.getProperty("arbor.etc");
        String trust = context.getProperty("arbor.deploy.trust");
        String deploy = context.getProperty("arbor.deploy");
        Path homePath = Path.of(home == null ? "." : home);
        Path trustFile = trust != null ? Path.of(trust)
                : (etc != null ? Path.of(etc) : homePath.resolve("etc")).resolve("trust/trusted-bundles.sha256");
        return create(trustFile, deploy != null ? Path.of(deploy) : homePath.resolve("deploy"),
                Clock.systemDefaultZone(), () -> BundleDiagnostics.available(context), out);
    }

    /** The command on explicit files (tests). */
    static CommandLine create(Path trustFile, Path deploy, Clock clock, BooleanSupplier available, PrintStream out) {
        TrustCommand root = new TrustCommand(trustFile, deploy, clock, available);
        return new CommandLine(root).addSubcommand("add", root.new Add(out))
                .addSubcommand("list", root.new ListDigests(out)).addSubcommand("revoke", root.new Revoke(out));
    }

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    private TrustEdits edits(PrintStream out) {
        if (!available.getAsBoolean()) {
            throw new ArborException(ArborException.Kind.UNAVAILABLE, "the trust tools need the deploy bundle"
                    + " (dev.arbor.platform.deploy, bundles/arbor-deploy.jar), which this installation does not run");
        }
        return new TrustEdits(trustFile, deploy, clock, out);
    }

    @Command(name = "add", mixinStandardHelpOptions = true,
            description = {"Trust jars: append each one's SHA-256 with a comment naming the file, the bundle's"
                    + " symbolic name and version, and today's date. A digest already listed is left as it is.",
                    "With --supersede, also retire the digests of older (or equal) versions of the same bundle,"
                            + " known from deploy/'s files or from comments this command wrote; a digest a deploy/"
                            + " file still runs is kept until the new jar is in deploy/ too (retiring it first would"
                            + " stop the plugin until its successor arrives)."})
    final class Add implements Callable<Integer> {
        private final PrintStream out;

        @Option(names = "--supersede", description = "Retire the digests of older versions of the same bundle.")
        boolean supersede;
        @Parameters(arity = "1..*", paramLabel = "FILE", description = "Bundle jars to trust (a relative name not"
                + " found as given is looked up in the installation, then in deploy/).")
        List<Path> files = new ArrayList<>();

        Add(PrintStream out) {
            this.out = out;
        }

        @Override
        public Integer call() throws Exception {
            edits(out).add(files, supersede);
            return 0;
        }
    }

    @Command(name = "list", mixinStandardHelpOptions = true,
            description = "Each trusted digest with its comment and the deploy/ file that has it now (if any), then"
                    + " the jars in deploy/ that are not trusted.")
    final class ListDigests implements Callable<Integer> {
        private final PrintStream out;

        ListDigests(PrintStream out) {
            this.out = out;
        }

        @Override
        public Integer call() throws Exception {
            edits(out).list();
            return 0;
        }
    }

    @Command(name = "revoke", mixinStandardHelpOptions = true,
            description = {"Stop trusting digests: each argument is a SHA-256 (64 hex digits) or a jar whose digest"
                    + " is meant (a relative name not found as given is looked up in the installation, then in"
                    + " deploy/). Every argument must be listed, else nothing changes.",
                    "A running Arbor uninstalls a revoked digest's bundle from deploy/ at its next scan (a trusted"
                            + " older version there takes its place first) and refuses the file."})
    final class Revoke implements Callable<Integer> {
        private final PrintStream out;

        @Parameters(arity = "1..*", paramLabel = "DIGEST|FILE", description = "Digests or jars to revoke.")
        List<String> targets = new ArrayList<>();

        Revoke(PrintStream out) {
            this.out = out;
        }

        @Override
        public Integer call() throws Exception {
            edits(out).revoke(targets);
            return 0;
        }
    }
}
