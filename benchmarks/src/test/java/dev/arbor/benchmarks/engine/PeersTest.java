package dev.arbor.benchmarks.engine;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PeersTest {
    /** Two rows of llama-bench's CSV (build b4754), as `-o csv` prints them, with a log line before. */
    private static final String CSV = """
            llama_model_loader: loaded meta data
            build_commit,build_number,cpu_info,gpu_info,backends,model_filename,model_type,model_size,\
            model_n_params,n_batch,n_ubatch,n_threads,cpu_mask,cpu_strict,poll,type_k,type_v,n_gpu_layers,\
            split_mode,main_gpu,no_kv_offload,flash_attn,tensor_split,use_mmap,embeddings,n_prompt,n_gen,\
            test_time,avg_ns,stddev_ns,avg_ts,stddev_ts
            "unknown","0","AMD EPYC","","CPU","m.gguf","llama ?B Q4_0","18350208","24407712","2048","512","1",\
            "0x0","0","50","f16","f16","99","layer","0","0","0","0.00","1","0","0","200","2026-12-07T07:54:36Z",\
            "201412290","0","992.988064","0.000000"
            "unknown","0","AMD EPYC","","CPU","m.gguf","llama ?B Q4_0","18350208","24407712","2048","512","2",\
            "0x0","0","50","f16","f16","99","layer","0","0","0","0.00","1","0","0","200","2026-12-07T07:54:36Z",\
            "5465739333","0","1536.591573","0.000000"
            """;

    @Test
    void readsTokensPerSecondPerThreadCountFromLlamaBenchCsv() {
        assertThat(Peers.parseLlamaBenchCsv(CSV)).containsExactly(Map.entry(1, 992.988064),
                Map.entry(2, 1536.591573));
        assertThat(Peers.parseLlamaBenchCsv("error: failed to load model\n")).isEmpty();
    }

    @Test
    void aMissingPeerGivesNoFigure(@TempDir Path dir) throws Exception {
        Path absent = dir.resolve("run");
        assertThat(Peers.llama2c(absent, 1, dir.resolve("m.bin"), dir.resolve("t.bin"), 10)).isNull();
        assertThat(Peers.llama2c(null, 1, dir.resolve("m.bin"), dir.resolve("t.bin"), 10)).isNull();
        assertThat(Peers.llamaBench(absent, dir.resolve("m.gguf"), 10, new int[] {1})).isEmpty();
    }
}
