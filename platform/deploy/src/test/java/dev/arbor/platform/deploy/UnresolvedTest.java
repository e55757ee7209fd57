package dev.arbor.platform.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.platform.deploy.Unresolved.MissingImport;
import java.util.List;
import org.junit.jupiter.api.Test;

class UnresolvedTest {
    @Test
    void aWrongApiVersionNamesTheRangeAskedForAndTheVersionsExported() {
        assertThat(Unresolved.message("deploy/x.jar (com.acme.plugin 1.0.0)",
                List.of(new MissingImport("dev.arbor.api.sampling", "[2.0.0,3.0.0)", List.of("1.2.0")))))
                .isEqualTo("deploy/x.jar (com.acme.plugin 1.0.0) does not resolve: it imports dev.arbor.api.sampling"
                        + " [2.0.0,3.0.0) but this installation exports 1.2.0; rebuild it against the installed API");
    }

    @Test
    void severalImportsAndAPackageNobodyExportsAreAllNamed() {
        String m = Unresolved.message("deploy/y.jar (y 1.0.0)", List.of(
                new MissingImport("a.b", "[1.1.0,2.0.0)", List.of("1.0.0", "3.0.0")),
                new MissingImport("c.d", "[1.0.0,2.0.0)", List.of()),
                new MissingImport("e.f", "(any version)", List.of())));
        assertThat(m).isEqualTo("deploy/y.jar (y 1.0.0) does not resolve: it imports a.b [1.1.0,2.0.0) but this"
                + " installation exports 1.0.0, 3.0.0; c.d [1.0.0,2.0.0) which no bundle of this installation exports;"
                + " e.f (any version) which no bundle of this installation exports; rebuild it against the"
                + " installed API, and deploy the bundle that exports what is missing");
    }

    @Test
    void rangesAreReadBackFromTheResolverFilter() {
        String felix = "(&(osgi.wiring.package=dev.arbor.api.sampling)(version>=2.0.0)(!(version>=3.0.0)))";
        assertThat(Unresolved.packageOf(felix)).isEqualTo("dev.arbor.api.sampling");
        assertThat(Unresolved.rangeOf(felix)).isEqualTo("[2.0.0,3.0.0)");
        assertThat(Unresolved.rangeOf("(&(osgi.wiring.package=p)(!(version<=1.0.0))(version<=2.0.0))"))
                .isEqualTo("(1.0.0,2.0.0]");
        assertThat(Unresolved.rangeOf("(&(osgi.wiring.package=p)(version>=1.2.0))")).isEqualTo("1.2.0");
        assertThat(Unresolved.rangeOf("(osgi.wiring.package=p)")).isEqualTo("(any version)");
        assertThat(Unresolved.packageOf(null)).isNull();
    }
}
