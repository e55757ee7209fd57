package dev.arbor.platform.admin.internal;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.LongSupplier;

/**
 * Failed admin logins per client address: the first {@value #FREE_FAILURES} failures cost nothing; from then on the
 * address must wait before its next attempt, {@value #FIRST_WAIT_SECONDS} s doubling with each further failure up to
 * {@value #MAX_WAIT_SECONDS} s, so guessing the password is hopeless. A success, or an hour without failures,
 * forgets the address. At most {@value #MAX_ADDRESSES} addresses are remembered (the oldest go first).
 */
final class LoginThrottle {
    static final int FREE_FAILURES = 5;
    static final long FIRST_WAIT_SECONDS = 10;
    static final long MAX_WAIT_SECONDS = 15 * 60;
    static final int MAX_ADDRESSES = 10_000;
    private static final long FORGET_NANOS = 3600L * 1_000_000_000L;

    private record State(int failures, long lastFailure, long blockedUntil) {
    }

    private final LongSupplier clock;
    private final Map<String, State> states = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, State> eldest) {
            return size() > MAX_ADDRESSES;
        }
    };

    LoginThrottle() {
        this(System::nanoTime);
    }

    LoginThrottle(LongSupplier nanoClock) {
        this.clock = nanoClock;
    }

    /** Seconds {@code address} must still wait before its next attempt (rounded up); 0 when it may try now. */
    synchronized long secondsToWait(String address) {
        State s = current(address);
        long left = s == null ? 0 : s.blockedUntil - clock.getAsLong();
        return left <= 0 ? 0 : (left + 999_999_999L) / 1_000_000_000L;
    }

    /** Counts a failed attempt; returns the wait it imposes in seconds (0 while the free failures last). */
    synchronized long failed(String address) {
        State s = current(address);
        int failures = s == null ? 1 : s.failures + 1;
        long now = clock.getAsLong();
        long wait = 0;
        if (failures >= FREE_FAILURES) {
            int doublings = Math.min(failures - FREE_FAILURES, 20);
            wait = Math.min(MAX_WAIT_SECONDS, FIRST_WAIT_SECONDS << doublings);
        }
        states.put(address, new State(failures, now, now + wait * 1_000_000_000L));
        return wait;
    }

    synchronized void succeeded(String address) {
        states.remove(address);
    }

    private State current(String address) {
        State s = states.get(address);
        if (s != null && clock.getAsLong() - s.lastFailure > FORGET_NANOS
                && clock.getAsLong() - s.blockedUntil > 0) {
            states.remove(address);
            return null;
        }
        return s;
    }
}
