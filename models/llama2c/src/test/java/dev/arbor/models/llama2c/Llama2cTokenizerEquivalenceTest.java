package dev.arbor.models.llama2c;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The O(n log n) encoder against the quadratic run.c loop it replaced: identical ids on random and corpus text for
 * stories260K's vocabulary, the forge's trained vocabularies and a hand-made vocabulary full of ties, signed zeros,
 * NaN, duplicate and empty pieces and scores at run.c's -1e10 floor.
 */
class Llama2cTokenizerEquivalenceTest {
    @TempDir
    static Path dir;

    static Stream<Path> vocabularies() throws IOException {
        List<Path> all = new ArrayList<>();
        all.add(Stories260K.tokenizer());
        Path trained = Path.of("../trained");
        if (Files.isDirectory(trained)) {
            try (Stream<Path> files = Files.walk(trained)) {
                files.filter(p -> p.getFileName().toString().equals("tokenizer.bin")).sorted().forEach(all::add);
            }
        }
        all.add(trickyVocabulary(dir.resolve("tricky.bin")));
        return all.stream();
    }

    @ParameterizedTest
    @MethodSource("vocabularies")
    void randomTextEncodesExactlyAsRunCsLoop(Path file) {
        Llama2cTokenizer tok = Llama2cTokenizer.read(file, 0);
        QuadraticReferenceEncoder reference = new QuadraticReferenceEncoder(tok);
        Random random = new Random(file.getFileName().hashCode() * 31L + 7);
        String[] alphabet = alphabet(tok);
        for (int round = 0; round < 1200; round++) {
            StringBuilder sb = new StringBuilder();
            int len = random.nextInt(round < 1000 ? 40 : 300);
            for (int i = 0; i < len; i++) {
                int kind = random.nextInt(10);
                if (kind < 7) {
                    sb.append(alphabet[random.nextInt(alphabet.length)]); // pieces: many merge opportunities
                } else if (kind < 9) {
                    sb.append(" etaoinshrdlu\n,.!'".charAt(random.nextInt(18)));
                } else {
                    sb.appendCodePoint(random.nextInt(0x2FFFF) + 1); // byte fallback, surrogates excluded below
                }
            }
            String text = new String(sb.toString().getBytes(StandardCharsets.UTF_8), StandardCharsets.UTF_8);
            boolean bos = random.nextBoolean();
            assertThat(tok.encode(text, bos)).as("%s: %s", file, text).containsExactly(reference.encode(text, bos));
        }
    }

    @ParameterizedTest
    @MethodSource("vocabularies")
    void corpusTextEncodesExactlyAsRunCsLoop(Path file) throws IOException {
        Llama2cTokenizer tok = Llama2cTokenizer.read(file, 0);
        QuadraticReferenceEncoder reference = new QuadraticReferenceEncoder(tok);
        List<String> corpus = new ArrayList<>();
        corpus.add(Stories260K.expectedText());
        corpus.add(Stories260K.expectedText().repeat(3));
        for (String doc : new String[] {"../../README.md", "../../docs/architecture.md"}) {
            Path p = Path.of(doc);
            if (Files.exists(p)) {
                String s = Files.readString(p);
                for (int i = 0; i + 2000 <= s.length(); i += 2000) {
                    corpus.add(s.substring(i, i + 2000));
                }
            }
        }
        for (String text : corpus) {
            assertThat(tok.encode(text, true)).as(file.toString()).containsExactly(reference.encode(text, true));
        }
    }

    @Test
    void publishedStoryEncodesAsRunCsLoopAndDecodesBack() {
        Llama2cTokenizer tok = Llama2cTokenizer.read(Stories260K.tokenizer(), 0);
        String text = Stories260K.expectedText();
        int[] ids = tok.encode(text, true);
        assertThat(ids).containsExactly(new QuadraticReferenceEncoder(tok).encode(text, true));
        assertThat(tok.decode(ids)).isEqualTo(text);
    }

    /** 400 KB: the quadratic loop needs tens of minutes for this; the heap a fraction of a second. */
    @Test
    void fourHundredKilobytesEncodeInWellUnderASecond() {
        Llama2cTokenizer tok = Llama2cTokenizer.read(Stories260K.tokenizer(), 0);
        String story = Stories260K.expectedText() + "\n";
        String text = story.repeat(400_000 / story.length() + 1).substring(0, 400_000);
        tok.encode(text.substring(0, 50_000), true); // warm-up: JIT, not the algorithm, is what a cold run measures
        long start = System.nanoTime();
        int[] ids = tok.encode(text, true);
        long millis = (System.nanoTime() - start) / 1_000_000;
        assertThat(ids.length).isGreaterThan(400_000 / 7);
        assertThat(millis).as("400 KB encode time in ms").isLessThan(1_000);
    }

    @Test
    void anInterruptedThreadStopsEncoding() throws InterruptedException {
        Llama2cTokenizer tok = Llama2cTokenizer.read(Stories260K.tokenizer(), 0);
        String text = "Once upon a time ".repeat(20_000);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread t = new Thread(() -> {
            Thread.currentThread().interrupt(); // as Workers cancel a request's worker
            try {
                tok.encode(text, true);
            } catch (Throwable e) {
                failure.set(e);
            }
        });
        t.start();
        t.join();
        assertThat(failure.get()).isInstanceOf(ArborException.class)
                .satisfies(e -> assertThat(((ArborException) e).kind()).isEqualTo(ArborException.Kind.CANCELLED));
    }

    @Test
    void aByteWithoutAByteTokenIsAnInvalidRequestNotAnIndexError(@TempDir Path tmp) throws IOException {
        Path small = tmp.resolve("small.bin");
        writeVocabulary(small, List.of("<unk>", "<s>", "</s>", " ", "a"), new float[] {0, 0, 0, 0, 0});
        Llama2cTokenizer tok = Llama2cTokenizer.read(small, 0);
        assertThat(tok.encode("aa", false)).containsExactly(3, 4, 4);
        assertThatThrownBy(() -> tok.encode("a€", false)).isInstanceOf(ArborException.class)
                .hasMessageContaining("no byte token <0xE2>");
    }

    /** Pieces over one small alphabet with every score pathology the merge order must reproduce. */
    private static Path trickyVocabulary(Path file) throws IOException {
        List<String> pieces = new ArrayList<>(List.of("<unk>", "\n<s>\n", "\n</s>\n"));
        for (int b = 0; b < 256; b++) {
            pieces.add(String.format("<0x%02X>", b));
        }
        List<Float> scores = new ArrayList<>();
        for (int i = 0; i < pieces.size(); i++) {
            scores.add(0f);
        }
        String[] extra = {" ", "a", "b", "c", "é", "ab", "ba", "aa", "bb", "abc", "cab", "aab", "ab", "a b", " a",
            "bc", "ca", "", "abab", "ccc", "cc", "éa", "aé", " b", "bab", "<0x61>a", "a<0x62>", "x", "y", "z", "xy",
            "yz"};
        // "xy" (-0f) and "yz" (0f) tie under run.c's '>': in "xyz" the left pair must win
        float[] extraScores = {-1, -1, -1, -1, -1, 5, 5, 5, 0f, -0f, 5, 5, 7, 3, 5, Float.NaN, -1e10f, 2, 5, 5,
            -1.5e10f, 4, 4, 0f, 5, 9, 9, -1, -1, -1, -0f, 0f};
        for (int i = 0; i < extra.length; i++) {
            pieces.add(extra[i]);
            scores.add(extraScores[i]);
        }
        float[] s = new float[scores.size()];
        for (int i = 0; i < s.length; i++) {
            s[i] = scores.get(i);
        }
        writeVocabulary(file, pieces, s);
        return file;
    }

    private static void writeVocabulary(Path file, List<String> pieces, float[] scores) throws IOException {
        int maxLen = 1;
        for (String p : pieces) {
            maxLen = Math.max(maxLen, p.getBytes(StandardCharsets.UTF_8).length);
        }
        try (OutputStream out = Files.newOutputStream(file)) {
            out.write(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(maxLen).array());
            for (int i = 0; i < pieces.size(); i++) {
                byte[] b = pieces.get(i).getBytes(StandardCharsets.UTF_8);
                out.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putFloat(scores[i]).putInt(b.length)
                        .array());
                out.write(b);
            }
        }
    }

    /** Short pieces of the vocabulary (plain text ones), so random text is full of mergeable pairs. */
    private static String[] alphabet(Llama2cTokenizer tok) {
        List<String> out = new ArrayList<>();
        for (int id = 3; id < tok.vocabSize(); id++) {
            String t = tok.tokenText(id);
            if (!t.isEmpty() && t.length() <= 3 && !t.startsWith("<0x") && !t.contains("\u0001")) {
                out.add(t);
            }
        }
        return out.toArray(new String[0]);
    }
}
