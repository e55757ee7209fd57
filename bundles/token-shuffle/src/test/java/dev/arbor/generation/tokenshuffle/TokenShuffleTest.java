package dev.arbor.generation.tokenshuffle;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class TokenShuffleTest {

    /** shuffle then unshuffle is the identity, and unshuffle then shuffle too, for every H, W divisible by s. */
    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3, 4})
    void shuffleAndUnshuffleAreInversesForEveryDivisibleShape(int s) {
        TokenShuffle t = new TokenShuffle(s);
        SplittableRandom rng = new SplittableRandom(s);
        for (int h = s; h <= 5 * s; h += s) {
            for (int w = s; w <= 5 * s; w += s) {
                int[] map = new int[h * w];
                for (int i = 0; i < map.length; i++) {
                    map[i] = rng.nextInt(1000);
                }
                int[][] windows = t.shuffle(map, h, w);
                assertThat(windows).hasNumberOfRows((h / s) * (w / s));
                assertThat(t.unshuffle(windows, h, w)).containsExactly(map);
                int[][] again = t.shuffle(t.unshuffle(windows, h, w), h, w);
                assertThat(again).isDeepEqualTo(windows);
            }
        }
    }

    /** The permutation of distinct ids is a bijection: every raster index lands in exactly one window slot. */
    @Test
    void everyIndexAppearsOnce() {
        int[] map = new int[6 * 9];
        for (int i = 0; i < map.length; i++) {
            map[i] = i;
        }
        int[][] windows = new TokenShuffle(3).shuffle(map, 6, 9);
        boolean[] seen = new boolean[map.length];
        for (int[] win : windows) {
            for (int id : win) {
                assertThat(seen[id]).isFalse();
                seen[id] = true;
            }
        }
        assertThat(seen).doesNotContain(false);
    }

    /** Windows come in raster order of windows, ids inside a window in raster order. */
    @Test
    void groupOrderIsTheRasterOrderOfWindows() {
        // a 4x6 map of raster indices, windows of 2x2: 2 rows of 3 windows
        int[] map = new int[24];
        for (int i = 0; i < map.length; i++) {
            map[i] = i;
        }
        int[][] windows = new TokenShuffle(2).shuffle(map, 4, 6);
        assertThat(windows).isDeepEqualTo(new int[][] {
                {0, 1, 6, 7}, {2, 3, 8, 9}, {4, 5, 10, 11},
                {12, 13, 18, 19}, {14, 15, 20, 21}, {16, 17, 22, 23}});
        int[][] three = new TokenShuffle(3).shuffle(new int[] {0, 1, 2, 3, 4, 5, 6, 7, 8}, 3, 3);
        assertThat(three).isDeepEqualTo(new int[][] {{0, 1, 2, 3, 4, 5, 6, 7, 8}});
    }

    @Test
    void refusesMapsWhoseSidesAreNotMultiplesOfTheWindow() {
        TokenShuffle t = new TokenShuffle(2);
        assertThatThrownBy(() -> t.shuffle(new int[49], 7, 7)).isInstanceOf(ArborException.class)
                .hasMessageContaining("multiples of 2").hasMessageContaining("7x7")
                .hasMessageContaining("pad the map").hasMessageContaining("to 8x8");
        assertThatThrownBy(() -> t.unshuffle(new int[12][4], 6, 7)).isInstanceOf(ArborException.class)
                .hasMessageContaining("6x7");
        assertThatThrownBy(() -> t.shuffle(new int[15], 4, 4)).isInstanceOf(ArborException.class)
                .hasMessageContaining("has 16 ids, got 15");
        assertThatThrownBy(() -> t.unshuffle(new int[3][4], 4, 4)).isInstanceOf(ArborException.class)
                .hasMessageContaining("4 windows of 2x2, got 3");
        assertThatThrownBy(() -> t.unshuffle(new int[][] {{1}, {2}, {3}, {4}}, 4, 4))
                .isInstanceOf(ArborException.class).hasMessageContaining("holds 1 ids");
        assertThatThrownBy(() -> new TokenShuffle(0)).isInstanceOf(ArborException.class)
                .hasMessageContaining("at least 1");
    }

    /** The 7x7 map padded to 8x8: the right column and bottom row are padding, the rest raster indices of 7x7. */
    @Test
    void theGridPadsTheRightColumnAndBottomRow() {
        WindowGrid g = new WindowGrid(7, 2, 5);
        assertThat(g.windows()).isEqualTo(16);
        assertThat(g.slots()).isEqualTo(4);
        assertThat(g.windowsPerRow()).isEqualTo(4);
        assertThat(g.blankCode()).isEqualTo(5);
        int real = 0;
        boolean[] seen = new boolean[49];
        for (int w = 0; w < 16; w++) {
            for (int h = 0; h < 4; h++) {
                int y = (w / 4) * 2 + h / 2;
                int x = (w % 4) * 2 + h % 2;
                int at = g.rasterIndex(w, h);
                if (y == 7 || x == 7) {
                    assertThat(at).isEqualTo(-1);
                } else {
                    assertThat(at).isEqualTo(y * 7 + x);
                    seen[at] = true;
                    real++;
                }
            }
        }
        assertThat(real).isEqualTo(49);
        assertThat(seen).doesNotContain(false);
        assertThat(g.rowsCompletedBy(0)).containsExactly(0, 2);
        assertThat(g.rowsCompletedBy(3)).containsExactly(6, 7);
    }
}
