package dev.arbor.tools.baseline;

import aQute.bnd.differ.DiffPluginImpl;
import aQute.bnd.header.Attrs;
import aQute.bnd.header.OSGiHeader;
import aQute.bnd.header.Parameters;
import aQute.bnd.osgi.Analyzer;
import aQute.bnd.osgi.Clazz;
import aQute.bnd.osgi.Constants;
import aQute.bnd.osgi.Descriptors;
import aQute.bnd.osgi.Jar;
import aQute.bnd.service.diff.Tree;
import aQute.bnd.version.Version;
import com.fasterxml.jackson.core.io.JsonStringEncoder;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.jar.Manifest;

/**
 * The API of one build of a bundle as bnd's differ sees it: the {@code <api>} part of
 * {@link DiffPluginImpl#tree(Jar)} (every exported package, its classes, members, signatures and the
 * {@code @ProviderType}/{@code @ConsumerType} roles that decide whether an addition is minor or major), the bundle's
 * symbolic name and version, and the version each package is exported at.
 *
 * <p>Why a serialized tree and not the released jar: there is no release repository, and CI builds a fresh clone
 * with an empty {@code ~/.m2} and without the network, so the baseline must travel with the sources. A jar committed
 * to git is opaque in review; this file is text, one API element per line, so the commit that releases an API shows
 * exactly which methods and types the release added or removed. It holds bnd's own {@link Tree.Data} (what
 * {@link DiffPluginImpl#deserialize} reads back), so the comparison is bnd's, not a re-implementation. Tags were not
 * used as the source of the baseline because CI's shallow clone may carry none, and rebuilding an old commit would
 * need that commit's dependencies offline.
 *
 * <p>Left out of the tree, on purpose: {@code <resources>} (hashes of non-class files, not API) and every manifest
 * header but the symbolic name and version (imports and tool headers change with the JDK and bnd, not with the API;
 * bnd's {@link aQute.bnd.differ.Baseline} would otherwise demand a micro bump whenever they do).
 *
 * @param tree    the pruned tree: bundle, {@code <manifest>} (symbolic name and version only) and {@code <api>}
 * @param exports package name to exported version, from {@code Export-Package}
 */
record ApiSnapshot(Tree.Data tree, Map<String, String> exports) {
    private static final ObjectMapper JSON = new ObjectMapper()
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, true);
    private static final String MANIFEST = "<manifest>";
    private static final String API = "<api>";

    ApiSnapshot {
        exports = Map.copyOf(exports);
    }

    /** The API of a built bundle. */
    static ApiSnapshot of(Path bundle) throws Exception {
        Jar jar = new Jar(bundle.toFile());
        try (Analyzer analyzer = new BundleOnlyAnalyzer(jar)) {
            Manifest manifest = jar.getManifest();
            if (manifest == null || manifest.getMainAttributes().getValue(Constants.BUNDLE_SYMBOLICNAME) == null) {
                throw new IllegalArgumentException(bundle + " is not an OSGi bundle (no Bundle-SymbolicName)");
            }
            Map<String, String> exports = new TreeMap<>();
            Parameters exported = OSGiHeader.parseHeader(manifest.getMainAttributes().getValue(
                    Constants.EXPORT_PACKAGE));
            for (Map.Entry<String, Attrs> e : exported.entrySet()) {
                exports.put(e.getKey(), Version.parseVersion(e.getValue().getVersion()).toString());
            }
            return new ApiSnapshot(prune(new DiffPluginImpl().tree(analyzer).serialize()), exports);
        } finally {
            jar.close();
        }
    }

    /**
     * Sees only the bundle's own classes. bnd's analyzer otherwise loads super types it cannot find in the bundle
     * from the JVM that runs it, and the tree then lists the members a class inherits from the JDK with the JDK's
     * annotations ({@code Object.finalize()} became {@code forRemoval} in Java 18): the same API would differ from
     * one JDK to the next. A change of a super type itself still shows, as a changed {@code extends} element.
     */
    private static final class BundleOnlyAnalyzer extends Analyzer {
        private final Jar bundle;

        BundleOnlyAnalyzer(Jar bundle) throws Exception {
            super(bundle);
            this.bundle = bundle;
        }

        @Override
        public Clazz findClass(Descriptors.TypeRef type) throws Exception {
            return bundle.getResource(type.getPath()) == null ? null : super.findClass(type);
        }
    }

    /** The tree as bnd's differ compares it. */
    Tree toTree() throws Exception {
        return new DiffPluginImpl().deserialize(tree);
    }

    /** {@code Export-Package} as bnd's {@link aQute.bnd.differ.Baseline} reads it. */
    Parameters exportParameters() {
        Parameters p = new Parameters();
        exports.forEach((name, version) -> {
            Attrs attrs = new Attrs();
            attrs.put(Constants.VERSION_ATTRIBUTE, version);
            p.put(name, attrs);
        });
        return p;
    }

    String symbolicName() {
        Tree.Data header = header(Constants.BUNDLE_SYMBOLICNAME);
        return header == null || header.children == null || header.children.length == 0 ? ""
                : header.children[0].name;
    }

    Version version() {
        Tree.Data header = header(Constants.BUNDLE_VERSION);
        return header == null ? Version.emptyVersion
                : Version.parseVersion(header.name.substring(Constants.BUNDLE_VERSION.length() + 1));
    }

    private Tree.Data header(String name) {
        for (Tree.Data part : children(tree)) {
            if (MANIFEST.equals(part.name)) {
                for (Tree.Data h : children(part)) {
                    if (h.name.equals(name) || h.name.startsWith(name + ":")) {
                        return h;
                    }
                }
            }
        }
        return null;
    }

    private static Tree.Data prune(Tree.Data bundle) {
        List<Tree.Data> kept = new ArrayList<>();
        for (Tree.Data part : children(bundle)) {
            if (API.equals(part.name)) {
                kept.add(part);
            } else if (MANIFEST.equals(part.name)) {
                List<Tree.Data> headers = new ArrayList<>();
                for (Tree.Data h : children(part)) {
                    // the symbolic name is a header with its clause as child, the version "Bundle-Version:x.y.z"
                    if (h.name.equals(Constants.BUNDLE_SYMBOLICNAME)
                            || h.name.startsWith(Constants.BUNDLE_VERSION + ":")) {
                        headers.add(h);
                    }
                }
                part.children = headers.toArray(Tree.Data[]::new);
                kept.add(part);
            }
        }
        bundle.children = kept.toArray(Tree.Data[]::new);
        return bundle;
    }

    private static Tree.Data[] children(Tree.Data d) {
        return d.children == null ? new Tree.Data[0] : d.children;
    }

    /**
     * Writes the snapshot as JSON with one tree element per line, indented by depth, so that a release's diff in
     * git names the API elements it changed.
     */
    void write(Path file, String note) throws IOException {
        StringBuilder out = new StringBuilder("{\n");
        out.append("\"note\": ").append(quote(note)).append(",\n");
        out.append("\"exports\": {");
        String sep = "\n";
        for (Map.Entry<String, String> e : new TreeMap<>(exports).entrySet()) {
            out.append(sep).append("  ").append(quote(e.getKey())).append(": ").append(quote(e.getValue()));
            sep = ",\n";
        }
        out.append("\n},\n\"tree\":\n");
        element(out, tree, 0);
        out.append("\n}\n");
        Files.createDirectories(file.toAbsolutePath().getParent());
        Files.writeString(file, out, StandardCharsets.UTF_8);
    }

    private static void element(StringBuilder out, Tree.Data d, int depth) {
        out.append("  ".repeat(depth)).append("{\"type\": ").append(quote(d.type.name()))
                .append(", \"name\": ").append(quote(d.name));
        if (d.add != null) {
            out.append(", \"add\": ").append(quote(d.add.name()));
        }
        if (d.rem != null) {
            out.append(", \"rem\": ").append(quote(d.rem.name()));
        }
        if (d.comment != null) {
            out.append(", \"comment\": ").append(quote(d.comment));
        }
        Tree.Data[] children = children(d);
        if (children.length == 0) {
            out.append("}");
            return;
        }
        out.append(", \"children\": [\n");
        for (int i = 0; i < children.length; i++) {
            element(out, children[i], depth + 1);
            out.append(i + 1 < children.length ? ",\n" : "\n");
        }
        out.append("  ".repeat(depth)).append("]}");
    }

    private static String quote(String s) {
        return "\"" + new String(JsonStringEncoder.getInstance().quoteAsString(s)) + "\"";
    }

    /** Reads what {@link #write} wrote. */
    static ApiSnapshot read(Path file) throws IOException {
        JsonNode root = JSON.readTree(file.toFile());
        if (root == null || !root.has("tree") || !root.has("exports")) {
            throw new IOException(file + " is not an API baseline (no \"tree\" and \"exports\")");
        }
        Map<String, String> exports = new TreeMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.get("exports").fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            exports.put(e.getKey(), e.getValue().asText());
        }
        return new ApiSnapshot(JSON.treeToValue(root.get("tree"), Tree.Data.class), exports);
    }
}
