package dev.arbor.platform.runtime.cli;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** {@code arbor serve --expose-models}: the models go out over gRPC, so the flag needs a gRPC port. */
class ExposeModelsFlagTest {
    private final RecordingCli cli = new RecordingCli();

    @Test
    void exposingModelsWithoutAGrpcPortIsRefusedSayingWhatToAdd() throws Exception {
        assertThat(cli.run("serve", "--expose-models")).isEqualTo(ArborCli.EXIT_INVALID);
        assertThat(cli.err()).contains("--expose-models").contains("give --grpc-port too");
    }

    @Test
    void theHelpSaysWhatIsExposedAndHow() throws Exception {
        assertThat(cli.run("serve", "--help")).isZero();
        assertThat(cli.out.toString()).contains("--expose-models").contains("platform arbor-forward");
    }
}
