package dev.arbor.generation.nextx;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class CellsTest {

    @ParameterizedTest
    @CsvSource({"7,4", "16,8", "5,1", "6,6", "7,3", "8,3", "1,1", "9,2"})
    void clusterifyAndUnclusterifyAreInverse(int side, int cellSide) {
        Cells cells = new Cells(side, cellSide);
        Integer[] raster = IntStream.range(0, side * side).boxed().toArray(Integer[]::new);
        Integer[] clustered = cells.clusterify(raster);
        assertThat(cells.unclusterify(clustered)).containsExactly(raster);
        assertThat(cells.clusterify(cells.unclusterify(raster))).containsExactly(raster);
        // a permutation: every raster index once
        assertThat(clustered).containsExactlyInAnyOrder(raster);
        // each token's cell from the grid geometry, cells in raster order, tokens raster order inside a cell
        int perRow = (side + cellSide - 1) / cellSide;
        int previousCell = 0;
        for (int i = 0; i < clustered.length; i++) {
            int r = clustered[i] / side;
            int c = clustered[i] % side;
            int cell = (r / cellSide) * perRow + c / cellSide;
            assertThat(cells.cellOf(i)).isEqualTo(cell);
            assertThat(cell).isGreaterThanOrEqualTo(previousCell);
            if (i > 0 && cells.cellOf(i - 1) == cell) {
                assertThat(clustered[i]).isGreaterThan(clustered[i - 1]);
            }
            previousCell = cell;
        }
        assertThat(cells.count()).isEqualTo(perRow * perRow);
        assertThat(IntStream.range(0, cells.count()).map(cells::size).sum()).isEqualTo(side * side);
    }

    @Test
    void quadrantsOfTheSevenBySevenGrid() {
        Cells cells = new Cells(7, 4);
        assertThat(cells.count()).isEqualTo(4);
        assertThat(IntStream.range(0, 4).map(cells::size).toArray()).containsExactly(16, 12, 12, 9);
        assertThat(IntStream.range(0, 16).map(cells::rasterIndex).toArray())
                .containsExactly(0, 1, 2, 3, 7, 8, 9, 10, 14, 15, 16, 17, 21, 22, 23, 24);
        assertThat(IntStream.range(16, 28).map(cells::rasterIndex).toArray())
                .containsExactly(4, 5, 6, 11, 12, 13, 18, 19, 20, 25, 26, 27);
        assertThat(cells.rasterIndex(48)).isEqualTo(48);
        assertThat(cells.start(3)).isEqualTo(40);
    }

    @Test
    void cellsOfOneAreRasterOrder() {
        Cells cells = new Cells(5, 1);
        for (int i = 0; i < 25; i++) {
            assertThat(cells.rasterIndex(i)).isEqualTo(i);
            assertThat(cells.cellOf(i)).isEqualTo(i);
        }
    }

    @Test
    void refusesBadShapes() {
        assertThatThrownBy(() -> new Cells(7, 0)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("cell side");
        assertThatThrownBy(() -> new Cells(3, 4)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new Cells(3, 2).clusterify(new Integer[8])).isInstanceOf(
                IllegalArgumentException.class).hasMessageContaining("9");
    }
}
