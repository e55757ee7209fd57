package dev.arbor.tests.serving;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.stream.LongStream;
import org.junit.jupiter.api.Test;

class PercentilesTest {
    @Test
    void nearestRankPicksAnObservedValue() {
        long[] hundred = LongStream.rangeClosed(1, 100).map(i -> 101 - i).toArray();   // 100..1, unsorted
        assertThat(Percentiles.nearestRank(hundred, 50)).isEqualTo(50);
        assertThat(Percentiles.nearestRank(hundred, 99)).isEqualTo(99);   // not 98: p * n / 100 is exact
        assertThat(Percentiles.nearestRank(hundred, 100)).isEqualTo(100);
        assertThat(hundred[0]).isEqualTo(100);   // input left unsorted
        long[] five = {15, 20, 35, 40, 50};   // Wikipedia's nearest-rank example
        assertThat(Percentiles.nearestRank(five, 5)).isEqualTo(15);
        assertThat(Percentiles.nearestRank(five, 30)).isEqualTo(20);
        assertThat(Percentiles.nearestRank(five, 40)).isEqualTo(20);
        assertThat(Percentiles.nearestRank(five, 50)).isEqualTo(35);
        assertThat(Percentiles.nearestRank(five, 99)).isEqualTo(50);
        assertThat(Percentiles.nearestRank(new long[] {7}, 99)).isEqualTo(7);
        assertThat(Percentiles.nearestRank(new long[0], 50)).isNaN();
        assertThatThrownBy(() -> Percentiles.nearestRank(five, 0)).isInstanceOf(IllegalArgumentException.class);
    }
}
