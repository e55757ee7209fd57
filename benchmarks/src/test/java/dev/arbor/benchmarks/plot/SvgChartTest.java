package dev.arbor.benchmarks.plot;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.List;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.w3c.dom.Document;

class SvgChartTest {
    @Test
    void axisEndsAreRoundNumbersAtOrAboveTheMaximum() {
        assertThat(SvgChart.niceCeiling(3867)).isEqualTo(4000);
        assertThat(SvgChart.niceCeiling(440)).isEqualTo(500);
        assertThat(SvgChart.niceCeiling(1000)).isEqualTo(1000);
        assertThat(SvgChart.niceCeiling(1001)).isEqualTo(2000);
        assertThat(SvgChart.niceCeiling(0)).isEqualTo(1);
    }

    @Test
    void writesWellFormedSvgWithOneBarPerMeasuredValueAndEscapedLabels(@TempDir Path dir) throws Exception {
        Path bars = dir.resolve("bars.svg");
        SvgChart.bars("tokens/s", "tokens/s", List.of(new SvgChart.BarPanel("a<b", List.of(
                new SvgChart.Bar("Arbor & co", 100.0), new SvgChart.Bar("peer", null),
                new SvgChart.Bar("other", 50.0)))), bars);
        Document doc = DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(bars.toFile());
        assertThat(doc.getDocumentElement().getTagName()).isEqualTo("svg");
        assertThat(doc.getElementsByTagName("rect").getLength()).isEqualTo(1 + 2);   // background + two bars
        assertThat(doc.getDocumentElement().getTextContent()).contains("Arbor & co", "a<b", "not measured");

        Path lines = dir.resolve("lines.svg");
        SvgChart.lines("aggregate", "streams", "tokens/s", List.of(new SvgChart.LinePanel("m", List.of(
                new SvgChart.Series("s", new double[] {1, 4, 16}, new double[] {100, 300, 800})))), lines);
        Document l = DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(lines.toFile());
        assertThat(l.getElementsByTagName("polyline").getLength()).isEqualTo(1);
        assertThat(l.getElementsByTagName("circle").getLength()).isEqualTo(3);
    }
}
