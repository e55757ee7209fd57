package dev.arbor.backend.remote;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.generation.GenerationResult;
import dev.arbor.api.generation.Generator;
import dev.arbor.api.model.AttentionSpec;
import dev.arbor.api.model.Capability;
import dev.arbor.api.model.DecodeState;
import dev.arbor.api.model.ForwardRequest;
import dev.arbor.api.model.ModelBackend;
import dev.arbor.api.model.ModelSpec;
import dev.arbor.generation.autoregressive.AutoregressiveGenerator;
import dev.arbor.generation.promptlookup.PromptLookupGenerator;
import dev.arbor.platform.oip.InferRequest;
import dev.arbor.platform.oip.InferResponse;
import dev.arbor.platform.oip.InferenceException;
import dev.arbor.platform.oip.Tensor;
import dev.arbor.testkit.RecordingSink;
import dev.arbor.testkit.TestContexts;
import dev.arbor.testkit.ToyCausalBackend;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * The remote backend against its server side over the in-process transport: the same requests and responses as gRPC
 * without a socket. The served model is the test kit's toy causal LM, whose logits are a pure function of the visible
 * history, so a state the server mishandles (a lost truncation, a fork that shares slots) changes the output.
 */
class RemoteBackendTest {
    private static final String URL = "grpc://127.0.0.1:1/toy";
    private final AtomicLong clock = new AtomicLong(1_000_000L);

    private static ToyCausalBackend toy(Capability... without) {
        return ToyCausalBackend.builder().name("toy").vocabSize(48).maxPositions(256).seed(7).eos(0, -4.0)
                .without(without).build();
    }

    private ForwardModel served(ModelBackend local, ForwardModel.Limits limits, boolean stateful) {
        return new ForwardModel("toy", () -> local, () -> true, limits, stateful, clock::get);
    }

    private static ModelBackend remote(ForwardModel served) {
        return new RemoteBackendProvider((url, key) -> new InProcessChannel(served))
                .open(new ModelSpec(Path.of("unused"), "oip", Options.of(Map.of("url", URL))));
    }

    private static int[] generate(Generator generator, ModelBackend model, int[] prompt, int maxTokens,
                                  Map<String, ?> options) {
        GenerationResult result = generator.generate(TestContexts.context(model, prompt, maxTokens,
                TestContexts.greedy(), new int[] {0}, 11L, options), new RecordingSink());
        return result.tokens();
    }

    @Test
    void greedyAutoregressiveIsTheLocalBackendsTokenForToken() {
        ToyCausalBackend local = toy();
        ForwardModel served = served(local, ForwardModel.Limits.DEFAULT, true);
        try (ModelBackend remote = remote(served)) {
            int[] prompt = {3, 9, 4, 17, 5};
            int[] expected = generate(new AutoregressiveGenerator(), local, prompt, 40, Map.of());
            int[] actual = generate(new AutoregressiveGenerator(), remote, prompt, 40, Map.of());
            assertThat(expected).hasSizeGreaterThan(10);
            assertThat(actual).containsExactly(expected);
            assertThat(served.liveSequences()).as("the generator closed its state, which freed the sequence")
                    .isZero();
        }
    }

    @Test
    void promptLookupRollsTheServersStateBackAndStaysGreedyExact() {
        ToyCausalBackend local = toy();
        ForwardModel served = served(local, ForwardModel.Limits.DEFAULT, true);
        int[] truncations = {0};
        OipChannel counting = new InProcessChannel(served) {
            @Override
            public InferResponse infer(InferRequest request) throws InferenceException {
                if (request.parameters().containsKey(ForwardProtocol.TRUNCATE_TO)) {
                    truncations[0]++;
                }
                return super.infer(request);
            }
        };
        try (ModelBackend remote = new RemoteBackendProvider((url, key) -> counting)
                .open(new ModelSpec(Path.of("unused"), "oip", Options.of(Map.of("url", URL))))) {
            // a repetitive prompt so n-gram drafts exist and most are rejected: every rejection truncates the state
            int[] prompt = {3, 9, 4, 3, 9, 4, 3, 9, 4, 3, 9, 4, 3, 9};
            int[] expected = generate(new AutoregressiveGenerator(), local, prompt, 40, Map.of());
            int[] actual = generate(new PromptLookupGenerator(), remote, prompt, 40, Map.of("lookahead", 4));
            assertThat(actual).containsExactly(expected);
            assertThat(truncations[0]).as("rollbacks rode on the next forward").isGreaterThan(0);
            assertThat(served.liveSequences()).isZero();
        }
    }

    @Test
    void statelessServersGetTheWholeHistoryAndTheSameTokens() {
        ToyCausalBackend local = toy();
        ForwardModel served = served(local, ForwardModel.Limits.DEFAULT, false);
        try (ModelBackend remote = remote(served)) {
            assertThat(remote.card().capabilities()).doesNotContain(Capability.PADDING, Capability.EXPLICIT_MASK);
            int[] prompt = {3, 9, 4, 3, 9, 4, 3, 9};
            int[] expected = generate(new AutoregressiveGenerator(), local, prompt, 30, Map.of());
            local.resetCounters();
            assertThat(generate(new PromptLookupGenerator(), remote, prompt, 30, Map.of("lookahead", 3)))
                    .containsExactly(expected);
            assertThat(local.calls()).allSatisfy(c -> assertThat(c.stateless()).isTrue());
            assertThat(served.liveSequences()).isZero();
        }
    }

    @Test
    void stateOperationsMatchTheLocalStateRowByRow() {
        ToyCausalBackend local = toy();
        ForwardModel served = served(local, ForwardModel.Limits.DEFAULT, true);
        try (ModelBackend remote = remote(served)) {
            int[][] prompt = {{1, 2, 3, 4}, {5, 6, 7, 8}};
            DecodeState l = local.newState(2);
            DecodeState r = remote.newState(2);
            assertLogitsEqual(local.forward(ForwardRequest.builder(prompt).state(l).build()).logits(),
                    remote.forward(ForwardRequest.builder(prompt).state(r).build()).logits());
            l.truncate(2);
            r.truncate(2);
            DecodeState lf = l.fork();
            DecodeState rf = r.fork();
            lf.selectRows(new int[] {1, 1, 0});
            rf.selectRows(new int[] {1, 1, 0});
            lf.compact(new int[] {0});
            rf.compact(new int[] {0});
            int[][] next = {{9}, {10}, {11}};
            assertLogitsEqual(local.forward(ForwardRequest.next(next, lf)).logits(),
                    remote.forward(ForwardRequest.next(next, rf)).logits());
            int[][] again = {{12}, {13}};
            assertLogitsEqual(local.forward(ForwardRequest.next(again, l)).logits(),
                    remote.forward(ForwardRequest.next(again, r)).logits());
            assertThat(r.length()).isEqualTo(l.length()).isEqualTo(3);
            assertThat(rf.batchSize()).isEqualTo(3);
            assertThat(served.liveSequences()).isEqualTo(2);
            rf.close();
            r.close();
            assertThat(served.liveSequences()).isZero();
        }
    }

    @Test
    void paddedBatchesTravelWithTheirValidity() {
        ToyCausalBackend local = toy();
        ForwardModel served = served(local, ForwardModel.Limits.DEFAULT, true);
        try (ModelBackend remote = remote(served)) {
            int[][] tokens = {{0, 0, 5, 6}, {1, 2, 3, 4}};
            boolean[][] valid = {{false, false, true, true}, {true, true, true, true}};
            AttentionSpec padded = new AttentionSpec.WithPadding(AttentionSpec.CAUSAL, valid);
            int[][] rows = {{3}, {1, 3}};
            DecodeState l = local.newState(2);
            DecodeState r = remote.newState(2);
            var expected = local.forward(ForwardRequest.builder(tokens).attention(padded).state(l).logitRows(rows)
                    .build()).logits();
            var actual = remote.forward(ForwardRequest.builder(tokens).attention(padded).state(r).logitRows(rows)
                    .build()).logits();
            assertThat(actual[0]).hasNumberOfRows(1);
            assertThat(actual[1]).hasNumberOfRows(2);
            assertLogitsEqual(expected, actual);
            r.close();
        }
    }

    @Test
    void capabilitiesTheServerLacksAreNotOfferedAndAreRefusedByName() {
        ForwardModel served = served(toy(Capability.STATE_TRUNCATE, Capability.STATE_FORK),
                ForwardModel.Limits.DEFAULT, true);
        try (ModelBackend remote = remote(served)) {
            assertThat(remote.card().name()).isEqualTo(URL);
            assertThat(remote.card().capabilities()).contains(Capability.BATCH, Capability.PADDING)
                    .doesNotContain(Capability.STATE_TRUNCATE, Capability.STATE_FORK, Capability.INPUT_EMBEDS,
                            Capability.HIDDEN_OUTPUT, Capability.EMBEDDING_MATRIX);
            DecodeState state = remote.newState(1);
            remote.forward(ForwardRequest.next(new int[][] {{1, 2}}, state));
            assertThatThrownBy(() -> state.truncate(1)).isInstanceOf(ArborException.class)
                    .hasMessageContaining("STATE_TRUNCATE").hasMessageContaining(URL);
            assertThatThrownBy(state::fork).hasMessageContaining("STATE_FORK");
            assertThatThrownBy(() -> remote.forward(ForwardRequest.builder(new int[][] {{1}}).wantHidden(true)
                    .build())).hasMessageContaining("HIDDEN_OUTPUT");
            state.close();
        }
    }

    @Test
    void limitsRefuseTooManySequencesAndTooLargeForwards() {
        ForwardModel served = served(toy(), new ForwardModel.Limits(2, 60_000L, 8, 4), true);
        try (ModelBackend remote = remote(served)) {
            DecodeState a = remote.newState(1);
            DecodeState b = remote.newState(1);
            DecodeState c = remote.newState(1);
            remote.forward(ForwardRequest.next(new int[][] {{1}}, a));
            remote.forward(ForwardRequest.next(new int[][] {{1}}, b));
            assertThatThrownBy(() -> remote.forward(ForwardRequest.next(new int[][] {{1}}, c)))
                    .isInstanceOf(ArborException.class).hasMessageContaining(URL)
                    .hasMessageContaining("2 live sequences, its limit");
            assertThatThrownBy(() -> remote.forward(ForwardRequest.next(new int[][] {{1, 2, 3, 4, 5, 6, 7, 8, 9}},
                    remote.newState(1)))).hasMessageContaining("at most 8 tokens");
            assertThatThrownBy(() -> remote.forward(ForwardRequest.next(new int[][] {{1}, {2}, {3}, {4}, {5}},
                    remote.newState(5)))).hasMessageContaining("1 to 4 rows");
            a.close();
            assertThat(served.liveSequences()).isEqualTo(1);
            remote.forward(ForwardRequest.next(new int[][] {{1}}, remote.newState(1)));
            assertThat(served.liveSequences()).isEqualTo(2);
        }
    }

    @Test
    void idleSequencesAreFreedAfterTheTtlAndTheirClientIsToldClearly() {
        ForwardModel served = served(toy(), new ForwardModel.Limits(8, 5_000L, 64, 4), true);
        try (ModelBackend remote = remote(served)) {
            DecodeState idle = remote.newState(1);
            DecodeState busy = remote.newState(1);
            remote.forward(ForwardRequest.next(new int[][] {{1, 2}}, idle));
            remote.forward(ForwardRequest.next(new int[][] {{1, 2}}, busy));
            clock.addAndGet(4_000L);
            remote.forward(ForwardRequest.next(new int[][] {{3}}, busy));
            assertThat(served.reap()).isZero();
            clock.addAndGet(2_000L);
            assertThat(served.reap()).as("only the sequence idle for 6 s of a 5 s TTL").isEqualTo(1);
            assertThat(served.liveSequences()).isEqualTo(1);
            assertThatThrownBy(() -> remote.forward(ForwardRequest.next(new int[][] {{3}}, idle)))
                    .isInstanceOf(ArborException.class).hasMessageContaining(URL)
                    .hasMessageContaining("freed after 5000 ms idle");
            remote.forward(ForwardRequest.next(new int[][] {{4}}, busy));
        }
    }

    @Test
    void hostileRequestsAreRefusedBeforeAnyCompute() throws Exception {
        ToyCausalBackend local = toy();
        ForwardModel served = served(local, new ForwardModel.Limits(4, 60_000L, 64, 4), true);
        served.infer(request(Map.of(ForwardProtocol.OP, ForwardProtocol.OP_DESCRIBE), List.of()));
        assertRefused(served, Map.of(ForwardProtocol.OP, "drop_tables"), List.of(ids(new long[] {1}, 1, 1)),
                InferenceException.Status.INVALID, "arbor_op must be one of");
        assertRefused(served, Map.of(), List.of(ids(new long[] {1, 99}, 1, 2)), InferenceException.Status.INVALID,
                "outside [0, 47]");
        assertRefused(served, Map.of(ForwardProtocol.SEQUENCE_ID, "nobody"), List.of(ids(new long[] {1}, 1, 1)),
                InferenceException.Status.NOT_FOUND, "no live sequence nobody");
        assertRefused(served, Map.of(ForwardProtocol.SEQUENCE_ID, "../../etc", ForwardProtocol.SEQUENCE_START,
                true), List.of(ids(new long[] {1}, 1, 1)), InferenceException.Status.INVALID, "letters, digits");
        assertRefused(served, Map.of(ForwardProtocol.SEQUENCE_ID, "s1", ForwardProtocol.SEQUENCE_START, true),
                List.of(ids(new long[5 * 16], 5, 16)), InferenceException.Status.INVALID, "1 to 4 rows");
        served.infer(request(Map.of(ForwardProtocol.SEQUENCE_ID, "s1", ForwardProtocol.SEQUENCE_START, true),
                List.of(ids(new long[] {1, 2}, 1, 2))));
        assertRefused(served, Map.of(ForwardProtocol.SEQUENCE_ID, "s1", ForwardProtocol.SEQUENCE_START, true),
                List.of(ids(new long[] {1}, 1, 1)), InferenceException.Status.INVALID, "already live");
        assertRefused(served, Map.of(ForwardProtocol.OP, ForwardProtocol.OP_SELECT_ROWS, ForwardProtocol.SEQUENCE_ID,
                "s1", ForwardProtocol.INDICES, "0,7"), List.of(), InferenceException.Status.INVALID,
                "outside [0, 1)");
        assertRefused(served, Map.of(ForwardProtocol.SEQUENCE_ID, "s1", ForwardProtocol.TRUNCATE_TO, 9L),
                List.of(ids(new long[] {1}, 1, 1)), InferenceException.Status.INVALID, "truncate_to must be");
        assertRefused(served, new java.util.HashMap<>(Map.of(ForwardProtocol.OP, ForwardProtocol.OP_DESCRIBE)),
                List.of(), clock.get() - 1, InferenceException.Status.DEADLINE, "deadline");
        assertThat(served.liveSequences()).isEqualTo(1);
    }

    @Test
    void anUnreachableServerFailsTheCallNamingTheUrlAndBreaksOnlyThatState() {
        ToyCausalBackend local = toy();
        ForwardModel served = served(local, ForwardModel.Limits.DEFAULT, true);
        boolean[] down = {false};
        OipChannel flaky = new OipChannel() {
            @Override
            public String platform(long timeoutMillis) {
                return served.platform();
            }

            @Override
            public InferResponse infer(InferRequest request) throws InferenceException {
                if (down[0]) {
                    throw new InferenceException(InferenceException.Status.UNAVAILABLE, "connection refused");
                }
                return served.infer(request);
            }

            @Override
            public void close() {
            }
        };
        ModelBackend remote = new RemoteBackendProvider((url, key) -> flaky)
                .open(new ModelSpec(Path.of("unused"), "oip", Options.of(Map.of("url", URL))));
        DecodeState state = remote.newState(1);
        remote.forward(ForwardRequest.next(new int[][] {{1, 2}}, state));
        down[0] = true;
        assertThatThrownBy(() -> remote.forward(ForwardRequest.next(new int[][] {{3}}, state)))
                .isInstanceOf(ArborException.class)
                .satisfies(e -> assertThat(((ArborException) e).kind()).isEqualTo(ArborException.Kind.UNAVAILABLE))
                .hasMessageContaining("the remote model at " + URL + " is unreachable")
                .hasMessageContaining("connection refused");
        down[0] = false;
        assertThatThrownBy(() -> remote.forward(ForwardRequest.next(new int[][] {{3}}, state)))
                .hasMessageContaining("cannot be used any more");
        DecodeState fresh = remote.newState(1);
        remote.forward(ForwardRequest.next(new int[][] {{1, 2, 3}}, fresh));
        fresh.close();
        state.close();
        remote.close();
    }

    @Test
    void openingNeedsAWellFormedUrl() {
        RemoteBackendProvider provider = new RemoteBackendProvider((url, key) -> {
            throw new AssertionError("no channel for a bad url");
        });
        for (String bad : new String[] {"http://h:1/m", "grpc://h/m", "grpc://h:1/", "grpc://h:1/m?x=1",
                "grpc://h:1/../m"}) {
            assertThatThrownBy(() -> provider.open(new ModelSpec(Path.of("x"), "oip", Options.of(Map.of("url",
                    bad))))).as(bad).isInstanceOf(ArborException.class).hasMessageContaining("grpc://HOST:PORT/MODEL");
        }
        assertThatThrownBy(() -> provider.open(new ModelSpec(Path.of("x"), "oip", Options.empty())))
                .hasMessageContaining("needs \"url\"");
        assertThatThrownBy(() -> provider.open(new ModelSpec(Path.of("x"), "onnx", Options.empty())))
                .hasMessageContaining("supported formats: [oip]");
    }

    private static void assertLogitsEqual(float[][][] expected, float[][][] actual) {
        assertThat(actual.length).isEqualTo(expected.length);
        for (int b = 0; b < expected.length; b++) {
            assertThat(actual[b].length).isEqualTo(expected[b].length);
            for (int r = 0; r < expected[b].length; r++) {
                assertThat(actual[b][r]).containsExactly(expected[b][r]);
            }
        }
    }

    private static Tensor ids(long[] values, int rows, int cols) {
        return new Tensor(ForwardProtocol.INPUT_IDS, ForwardProtocol.INT64, List.of((long) rows, (long) cols),
                values, Map.of());
    }

    private InferRequest request(Map<String, Object> params, List<Tensor> inputs) {
        return new InferRequest("", params, inputs, List.of(), clock.get() + 10_000L);
    }

    private void assertRefused(ForwardModel served, Map<String, Object> params, List<Tensor> inputs,
                               InferenceException.Status status, String message) {
        assertRefused(served, params, inputs, clock.get() + 10_000L, status, message);
    }

    private static void assertRefused(ForwardModel served, Map<String, Object> params, List<Tensor> inputs,
                                      long deadline, InferenceException.Status status, String message) {
        List<Tensor> all = new ArrayList<>(inputs);
        assertThatThrownBy(() -> served.infer(new InferRequest("", params, all, List.of(), deadline)))
                .isInstanceOf(InferenceException.class)
                .satisfies(e -> assertThat(((InferenceException) e).status()).isEqualTo(status))
                .hasMessageContaining(message);
    }
}
