package dev.arbor.generation.nextx;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The samplers on a Gaussian target x_1 ~ N(μ, σ²), where the flow is known in closed form: on the path
 * x_t = t·x_1 + (1−t)·ε the marginal is N(tμ, s_t²), s_t² = t²σ² + (1−t)², the exact velocity is
 * v(x, t) = μ + (tσ² − (1−t))/s_t² · (x − tμ), and the ODE carries ε to μ + σ·ε.
 */
class FlowSamplerTest {

    static FlowSampler.Velocity gaussian(double mu, double sigma) {
        return (x, t) -> {
            double s2 = t * t * sigma * sigma + (1 - t) * (1 - t);
            double gain = (t * sigma * sigma - (1 - t)) / s2;
            float[][] v = new float[x.length][x[0].length];
            for (int i = 0; i < x.length; i++) {
                for (int j = 0; j < x[i].length; j++) {
                    v[i][j] = (float) (mu + gain * (x[i][j] - t * mu));
                }
            }
            return v;
        };
    }

    @ParameterizedTest
    @CsvSource({"1.5,0.5", "-2.0,0.1", "0.0,2.0"})
    void eulerReachesTheExactEndPoint(double mu, double sigma) {
        float[][] noise = {{-1.3f, 0.2f, 2.1f}};
        double worst100 = 0;
        double worst400 = 0;
        float[][] x100 = FlowSampler.EULER.integrate(noise, 100, gaussian(mu, sigma), new SplittableRandom(1),
                () -> false);
        float[][] x400 = FlowSampler.EULER.integrate(noise, 400, gaussian(mu, sigma), new SplittableRandom(1),
                () -> false);
        for (int j = 0; j < 3; j++) {
            double exact = mu + sigma * noise[0][j];
            worst100 = Math.max(worst100, Math.abs(x100[0][j] - exact));
            worst400 = Math.max(worst400, Math.abs(x400[0][j] - exact));
        }
        assertThat(worst400).isLessThan(0.01 * Math.max(1, sigma));
        // first order: four times the steps, about a quarter of the error
        assertThat(worst400).isLessThan(worst100 / 2.5);
        assertThat(noise[0][0]).isEqualTo(-1.3f); // the noise is not modified
    }

    @Test
    void eulerMaruyamaSamplesTheTargetLaw() {
        double mu = 1.2;
        double sigma = 0.6;
        int n = 20_000;
        SplittableRandom rng = new SplittableRandom(42);
        float[][] noise = new float[n][1];
        for (float[] z : noise) {
            z[0] = (float) rng.nextGaussian();
        }
        float[][] x = FlowSampler.EULER_MARUYAMA.integrate(noise, 200, gaussian(mu, sigma), rng, () -> false);
        double mean = 0;
        for (float[] v : x) {
            mean += v[0];
        }
        mean /= n;
        double var = 0;
        for (float[] v : x) {
            var += (v[0] - mean) * (v[0] - mean);
        }
        double sd = Math.sqrt(var / (n - 1));
        assertThat(mean).isCloseTo(mu, within(0.03));
        assertThat(sd).isCloseTo(sigma, within(0.03));
        // the SDE does not follow the ODE path: the end points are not the deterministic map of the start
        float[][] ode = FlowSampler.EULER.integrate(noise, 200, gaussian(mu, sigma), rng, () -> false);
        double moved = 0;
        for (int i = 0; i < n; i++) {
            moved += Math.abs(ode[i][0] - x[i][0]);
        }
        assertThat(moved / n).isGreaterThan(0.05);
    }

    @Test
    void cancellationStopsBeforeTheNextEvaluation() {
        int[] calls = {0};
        FlowSampler.Velocity v = (x, t) -> {
            calls[0]++;
            return new float[][] {{0f}};
        };
        float[][] out = FlowSampler.EULER.integrate(new float[][] {{0f}}, 10, v, new SplittableRandom(1),
                () -> calls[0] >= 3);
        assertThat(out).isNull();
        assertThat(calls[0]).isEqualTo(3);
    }

    @Test
    void parsesTheOptionValues() {
        assertThat(FlowSampler.parse(" Euler ")).isEqualTo(FlowSampler.EULER);
        assertThat(FlowSampler.parse("euler_maruyama")).isEqualTo(FlowSampler.EULER_MARUYAMA);
        assertThat(FlowSampler.parse("rk4")).isNull();
        assertThat(FlowSampler.parse(null)).isNull();
    }
}
