package dev.arbor.platform.runtime.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.arbor.api.ArborException;
import dev.arbor.api.Options;
import dev.arbor.api.pipeline.TokenizerRef;
import dev.arbor.api.tokenizer.Tokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ChatTemplatesTest {
    @TempDir
    Path dir;

    /**
     * Characters as ids (BOS 1, EOS 2), with a leading dummy piece 3 like sentencepiece; when {@code readsSpecials}
     * it maps "&lt;s&gt;" and "&lt;/s&gt;" in text to BOS/EOS as Hugging Face tokenizers do, else spells them out.
     */
    static Tokenizer chars(boolean readsSpecials) {
        return new Tokenizer() {
            @Override
            public int[] encode(String text, boolean addSpecialTokens) {
                List<Integer> ids = new ArrayList<>();
                if (addSpecialTokens) {
                    ids.add(1);
                }
                if (!text.isEmpty()) {
                    ids.add(3);
                }
                for (int i = 0; i < text.length(); i++) {
                    if (readsSpecials && text.startsWith("<s>", i)) {
                        ids.add(1);
                        i += 2;
                    } else if (readsSpecials && text.startsWith("</s>", i)) {
                        ids.add(2);
                        i += 3;
                    } else {
                        ids.add(100 + text.charAt(i));
                    }
                }
                if (readsSpecials && ids.size() == 2 && ids.get(0) == 3 && ids.get(1) < 3) {
                    ids.remove(0); // a special token alone encodes to its id
                }
                return ids.stream().mapToInt(Integer::intValue).toArray();
            }

            @Override
            public String decode(int[] ids) {
                StringBuilder sb = new StringBuilder();
                for (int id : ids) {
                    if (id >= 100) {
                        sb.append((char) (id - 100));
                    }
                }
                return sb.toString();
            }

            @Override
            public int vocabSize() {
                return 100 + 128;
            }

            @Override
            public OptionalInt bosTokenId() {
                return OptionalInt.of(1);
            }

            @Override
            public OptionalInt eosTokenId() {
                return OptionalInt.of(2);
            }
        };
    }

    private TokenizerRef ref(String chatTemplate) {
        return new TokenizerRef("test", dir.resolve("tokenizer.bin").toString(), Options.empty(), chatTemplate);
    }

    @Test
    void aPipelineWithoutTemplateAndWithoutTokenizerConfigHasNone() {
        assertThat(ChatTemplates.resolve("p", ref(null), chars(false))).isEmpty();
    }

    @Test
    void theOperatorNamesABuiltInOrWritesJinja() {
        ChatTemplates.Template plain = ChatTemplates.resolve("p", ref("arbor-plain"), chars(false)).orElseThrow();
        assertThat(plain.text()).isEqualTo(ChatTemplates.BUILT_IN.get("arbor-plain"));
        assertThat(plain.bosToken()).isEqualTo("<s>");
        assertThat(plain.eosToken()).isEqualTo("</s>");
        ChatTemplates.Template inline = ChatTemplates.resolve("p", ref("{{ bos_token }}x"), chars(false))
                .orElseThrow();
        assertThat(inline.text()).isEqualTo("{{ bos_token }}x");
        assertThat(inline.source()).isEqualTo("pipeline file");
        assertThatThrownBy(() -> ChatTemplates.resolve("p", ref("llama-9"), chars(false)))
                .isInstanceOf(ArborException.class)
                .hasMessageContaining("'llama-9' is neither a built-in template (arbor-plain, chatml)");
    }

    @Test
    void tokenizerConfigGivesTheTemplateAndTheSpecialTokens() throws Exception {
        Files.writeString(dir.resolve("tokenizer_config.json"), "{\"bos_token\": {\"content\": \"<|b|>\"},"
                + " \"eos_token\": \"<|e|>\", \"chat_template\": [{\"name\": \"tool_use\", \"template\": \"T\"},"
                + " {\"name\": \"default\", \"template\": \"D\"}]}");
        ChatTemplates.Template t = ChatTemplates.resolve("p", ref(null), chars(false)).orElseThrow();
        assertThat(t.text()).isEqualTo("D");
        assertThat(t.bosToken()).isEqualTo("<|b|>");
        assertThat(t.eosToken()).isEqualTo("<|e|>");
        // the pipeline file's template wins over the tokenizer's
        assertThat(ChatTemplates.resolve("p", ref("chatml"), chars(false)).orElseThrow().source())
                .isEqualTo("chatml");
        Files.writeString(dir.resolve("tokenizer_config.json"), "{\"chat_template\": \"S\"}");
        assertThat(ChatTemplates.resolve("p", ref(null), chars(false)).orElseThrow().text()).isEqualTo("S");
        Files.writeString(dir.resolve("tokenizer_config.json"), "{\"chat_template\": [{\"name\": \"x\"}]}");
        assertThatThrownBy(() -> ChatTemplates.resolve("p", ref(null), chars(false)))
                .isInstanceOfSatisfying(ArborException.class,
                        e -> assertThat(e.kind()).isEqualTo(ArborException.Kind.BAD_MODEL));
    }

    @Test
    void renderedTextIsEncodedWithoutAddingSpecialTokensAgain() {
        ChatTemplates.Template t = new ChatTemplates.Template("", "test", "<s>", "</s>");
        Tokenizer hf = chars(true);
        // a tokenizer that reads special tokens in text gets the whole text, without special tokens added
        assertThat(ChatTemplates.encode(hf, "<s>ab</s>", t)).containsExactly(hf.encode("<s>ab</s>", false));
        assertThat(ChatTemplates.encode(hf, "<s>ab</s>", t)).containsExactly(3, 1, 197, 198, 2);
        // one that spells them out is split there: BOS, the text between (alone), EOS
        Tokenizer llama2c = chars(false);
        assertThat(ChatTemplates.encode(llama2c, "<s>ab</s>c", t)).containsExactly(1, 3, 197, 198, 2, 3, 199);
        // so a template writing BOS first gives exactly what encoding the rest with special tokens gives
        assertThat(ChatTemplates.encode(llama2c, "<s>User: hi", t)).containsExactly(llama2c.encode("User: hi", true));
        assertThat(ChatTemplates.encode(llama2c, "no specials", t)).containsExactly(llama2c.encode("no specials",
                false));
    }

    @Test
    void thePipelineFileCarriesTheTemplateThroughARewrite() {
        String json = "{\"name\": \"p\", \"model\": {\"backend\": \"b\", \"format\": \"f\", \"path\": \"m\"},"
                + " \"tokenizer\": {\"format\": \"t\", \"path\": \"tok\", \"chat_template\":"
                + " \"{{ bos_token }}${not.a.variable}\"}, \"generator\": \"g\"}";
        var d = PipelineJson.parse(json, "test", "p", n -> null);
        assertThat(d.tokenizer().chatTemplate()).isEqualTo("{{ bos_token }}${not.a.variable}");
        var again = PipelineJson.parse(PipelineJson.write(d), "rewritten", "p", n -> null);
        assertThat(again.tokenizer().chatTemplate()).isEqualTo(d.tokenizer().chatTemplate());
        assertThatThrownBy(() -> PipelineJson.parse(json.replace("\"{{ bos_token }}${not.a.variable}\"", "7"),
                "test", "p", n -> null)).hasMessageContaining("\"chat_template\" must be the name of a built-in");
    }
}
