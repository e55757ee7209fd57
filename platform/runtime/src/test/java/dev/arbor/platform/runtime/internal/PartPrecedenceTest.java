package dev.arbor.platform.runtime.internal;

import static org.assertj.core.api.Assertions.assertThat;

import dev.arbor.api.PartProperties;
import java.lang.reflect.Proxy;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.osgi.framework.Bundle;
import org.osgi.framework.Constants;
import org.osgi.framework.ServiceReference;
import org.osgi.framework.Version;

/** Which of several services offering one part name serves, and the log line when that changes. */
class PartPrecedenceTest {
    private static Bundle bundle(String name, String version) {
        return (Bundle) Proxy.newProxyInstance(PartPrecedenceTest.class.getClassLoader(), new Class<?>[] {Bundle.class},
                (p, m, a) -> switch (m.getName()) {
                    case "getSymbolicName" -> name;
                    case "getVersion" -> Version.parseVersion(version);
                    case "hashCode" -> System.identityHashCode(p);
                    case "equals" -> p == a[0];
                    default -> null;
                });
    }

    @SuppressWarnings("unchecked")
    private static ServiceReference<Object> ref(String part, Bundle bundle, int ranking, long id) {
        Map<String, Object> props = Map.of(PartProperties.NAME, part, Constants.SERVICE_RANKING, ranking,
                Constants.SERVICE_ID, id);
        return (ServiceReference<Object>) Proxy.newProxyInstance(PartPrecedenceTest.class.getClassLoader(),
                new Class<?>[] {ServiceReference.class}, (p, m, a) -> switch (m.getName()) {
                    case "getProperty" -> props.get(a[0]);
                    case "getBundle" -> bundle;
                    case "hashCode" -> Long.hashCode(id);
                    case "equals" -> p == a[0];
                    case "toString" -> part + "#" + id;
                    default -> null;
                });
    }

    @Test
    void aBundlesHighestVersionWinsWhateverTheInstallOrderOrRanking() {
        ServiceReference<Object> old = ref("best-of-k", bundle("acme.bestofk", "1.1.0"), 0, 10);
        ServiceReference<Object> newer = ref("best-of-k", bundle("acme.bestofk", "1.2.0"), 0, 20);
        assertThat(PartPrecedence.best(List.of(old, newer), "best-of-k")).contains(newer);
        assertThat(PartPrecedence.best(List.of(newer, old), "best-of-k")).contains(newer);
        // a higher ranking in an older version of the same bundle does not beat its newer version
        ServiceReference<Object> rankedOld = ref("best-of-k", bundle("acme.bestofk", "1.1.0"), 100, 5);
        assertThat(PartPrecedence.best(List.of(rankedOld, newer), "best-of-k")).contains(newer);
        // snapshot builds: the later timestamp qualifier is the higher version
        ServiceReference<Object> morning = ref("best-of-k", bundle("acme.bestofk", "1.2.0.202612070900"), 0, 30);
        ServiceReference<Object> evening = ref("best-of-k", bundle("acme.bestofk", "1.2.0.202612071800"), 0, 31);
        assertThat(PartPrecedence.best(List.of(evening, morning), "best-of-k")).contains(evening);
    }

    @Test
    void acrossBundlesRankingThenTheOldestServiceDecides() {
        // versions of different bundles are not compared: a plugin overrides a built-in part by its ranking
        ServiceReference<Object> builtIn = ref("sample", bundle("dev.arbor.sampling", "0.1.0.202612071900"), 0, 3);
        ServiceReference<Object> plugin = ref("sample", bundle("acme.runnerup", "0.0.1"), 100, 40);
        assertThat(PartPrecedence.best(List.of(builtIn, plugin), "sample")).contains(plugin);
        Bundle b = bundle("acme.parts", "1.0.0");
        ServiceReference<Object> low = ref("top-k", b, 0, 3);
        ServiceReference<Object> high = ref("top-k", b, 5, 4);
        assertThat(PartPrecedence.best(List.of(low, high), "top-k")).contains(high);
        ServiceReference<Object> first = ref("top-k", bundle("a", "1.0.0"), 0, 7);
        ServiceReference<Object> second = ref("top-k", bundle("b", "9.0.0"), 0, 8);
        assertThat(PartPrecedence.best(List.of(second, first), "top-k")).contains(first);
        assertThat(PartPrecedence.best(List.of(first, second), "other")).isEmpty();
    }

    @Test
    void aChangeOfWinnerIsReportedOnceNamingBothBundles() {
        PartPrecedence precedence = new PartPrecedence();
        ServiceReference<Object> old = ref("best-of-k", bundle("acme.bestofk", "1.1.0"), 0, 10);
        ServiceReference<Object> newer = ref("best-of-k", bundle("acme.bestofk", "1.2.0"), 0, 20);
        assertThat(precedence.observe(PartKind.GENERATOR, "best-of-k", List.of(old))).isEmpty();
        assertThat(precedence.observe(PartKind.GENERATOR, "best-of-k", List.of(old, newer))).hasValueSatisfying(
                line -> assertThat(line).contains("'best-of-k'").contains("acme.bestofk 1.2.0")
                        .contains("instead of acme.bestofk 1.1.0").contains("highest installed version wins"));
        assertThat(precedence.observe(PartKind.GENERATOR, "best-of-k", List.of(old, newer))).isEmpty();
        // an older version installed later does not take over, and says nothing
        ServiceReference<Object> older = ref("best-of-k", bundle("acme.bestofk", "1.0.0"), 0, 30);
        assertThat(precedence.observe(PartKind.GENERATOR, "best-of-k", List.of(old, newer, older))).isEmpty();
        // the newest leaves: the next version serves again, reported
        assertThat(precedence.observe(PartKind.GENERATOR, "best-of-k", List.of(old, older)))
                .hasValueSatisfying(line -> assertThat(line).contains("acme.bestofk 1.1.0 instead of acme.bestofk"
                        + " 1.2.0"));
    }
}
