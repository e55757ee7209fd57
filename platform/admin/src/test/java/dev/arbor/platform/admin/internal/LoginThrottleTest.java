package dev.arbor.platform.admin.internal;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class LoginThrottleTest {
    private final AtomicLong now = new AtomicLong(1_000_000_000_000L);
    private final LoginThrottle throttle = new LoginThrottle(now::get);

    @Test
    void fourFailuresAreFreeTheFifthImposesAWaitThatDoublesWithEachFurtherFailure() {
        for (int i = 0; i < 4; i++) {
            assertThat(throttle.failed("10.0.0.1")).isZero();
            assertThat(throttle.secondsToWait("10.0.0.1")).isZero();
        }
        assertThat(throttle.failed("10.0.0.1")).isEqualTo(10);
        assertThat(throttle.secondsToWait("10.0.0.1")).isEqualTo(10);
        assertThat(throttle.secondsToWait("10.0.0.2")).as("other addresses are not affected").isZero();
        advance(10);
        assertThat(throttle.secondsToWait("10.0.0.1")).isZero();
        assertThat(throttle.failed("10.0.0.1")).isEqualTo(20);
        advance(20);
        assertThat(throttle.failed("10.0.0.1")).isEqualTo(40);
        for (int i = 0; i < 30; i++) {
            throttle.failed("10.0.0.1");
        }
        assertThat(throttle.secondsToWait("10.0.0.1")).isEqualTo(LoginThrottle.MAX_WAIT_SECONDS);
    }

    @Test
    void aSuccessForgetsTheFailures() {
        for (int i = 0; i < 4; i++) {
            throttle.failed("10.0.0.1");
        }
        throttle.succeeded("10.0.0.1");
        assertThat(throttle.failed("10.0.0.1")).isZero();
    }

    @Test
    void anHourWithoutFailuresForgetsTheAddress() {
        for (int i = 0; i < 5; i++) {
            throttle.failed("10.0.0.1");
        }
        advance(3601);
        assertThat(throttle.secondsToWait("10.0.0.1")).isZero();
        assertThat(throttle.failed("10.0.0.1")).isZero();
    }

    private void advance(long seconds) {
        now.addAndGet(seconds * 1_000_000_000L);
    }
}
