package dev.arbor.chat.template;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import com.hubspot.jinjava.loader.ResourceNotFoundException;
import dev.arbor.api.ArborException;
import dev.arbor.api.PartProperties;
import dev.arbor.api.pipeline.ChatMessage;
import dev.arbor.api.pipeline.ChatTemplateEngine;
import java.time.ZoneId;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.osgi.framework.BundleContext;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;

/**
 * Renders Hugging Face chat templates with HubSpot Jinjava, configured as {@code transformers} configures Jinja for
 * {@code apply_chat_template} ({@code trim_blocks} and {@code lstrip_blocks} on, whitespace control and operator
 * precedence as in Python's Jinja) and given the same context: {@code messages} (maps, so {@code message['role']}
 * and {@code message.role} both work), {@code add_generation_prompt}, {@code bos_token}, {@code eos_token},
 * {@code raise_exception(msg)} and {@code strftime_now(format)}. {@code tools} and {@code documents} stay undefined.
 * Python's string methods work on strings ({@link PythonStringMethods}). Not supported: slices with a step
 * ({@code messages[::-1]}: Jinjava's parser refuses them; {@code messages|reverse} says the same), and
 * {@code tojson} writes compact JSON where Python's writes {@code ", "} and {@code ": "}.
 *
 * <p>Safety: the template is the operator's, the messages are a client's. Text inside messages is never interpreted
 * again (Jinjava's nested interpretation is off, so a message holding <code>{{ ... }}</code> stays text), templates
 * can load no other template ({@code include}, {@code import} find nothing), and the output is bounded
 * ({@value #MAX_OUTPUT_BYTES} bytes).
 */
@Component(service = ChatTemplateEngine.class, property = {
    PartProperties.NAME + "=jinjava",
    PartProperties.DESCRIPTION + "=Hugging Face chat templates (Jinja) rendered with HubSpot Jinjava"
})
public final class JinjavaChatTemplateEngine implements ChatTemplateEngine {
    /** The most text one rendering may produce; far above any prompt a server accepts. */
    static final long MAX_OUTPUT_BYTES = 16L << 20;

    /** Built on first use, or when the component activates (see {@link #activate}); about 0.15 s of start-up. */
    private volatile Jinjava jinjava;

    /**
     * Builds the engine now, so that a server's first chat request does not wait for it; not in a one-shot command
     * (framework property {@code arbor.activation=on-demand}), which may never render a template.
     */
    @Activate
    void activate(BundleContext context) {
        if (!"on-demand".equals(context.getProperty("arbor.activation"))) {
            jinjava();
        }
    }

    private Jinjava jinjava() {
        Jinjava built = jinjava;
        if (built != null) {
            return built;
        }
        synchronized (this) {
            if (jinjava == null) {
                jinjava = build();
            }
            return jinjava;
        }
    }

    private static Jinjava build() {
        // Python's str methods first, then Jinjava's own resolvers (maps, lists, beans)
        jinjava.javax.el.CompositeELResolver resolver = new jinjava.javax.el.CompositeELResolver();
        resolver.add(new PythonStringMethods());
        resolver.add(com.hubspot.jinjava.el.JinjavaInterpreterResolver.DEFAULT_RESOLVER_READ_ONLY);
        JinjavaConfig config = JinjavaConfig.newBuilder()
                .withElResolver(resolver)
                .withTrimBlocks(true)
                .withLstripBlocks(true)
                .withNestedInterpretationEnabled(false)
                .withFailOnUnknownTokens(false)
                .withMaxOutputSize(MAX_OUTPUT_BYTES)
                .withTimeZone(ZoneId.systemDefault())
                .withLegacyOverrides(LegacyOverrides.newBuilder()
                        .withParseWhitespaceControlStrictly(true)
                        .withUseTrimmingForNotesAndExpressions(true)
                        .withUseNaturalOperatorPrecedence(true)
                        .withKeepNullableLoopValues(true)
                        .build())
                .build();
        Jinjava jinjava = withBundleClassLoader(() -> new Jinjava(config));
        jinjava.setResourceLocator((name, encoding, interpreter) -> {
            throw new ResourceNotFoundException("chat templates cannot load other templates ('" + name + "')");
        });
        jinjava.getGlobalContext().registerFunction(new ELFunctionDefinition("", "raise_exception",
                TemplateFunctions.class, "raiseException", Object.class));
        jinjava.getGlobalContext().registerFunction(new ELFunctionDefinition("", "strftime_now",
                TemplateFunctions.class, "strftimeNow", String.class));
        return jinjava;
    }

    @Override
    public String render(String template, List<ChatMessage> messages, boolean addGenerationPrompt, String bosToken,
                         String eosToken) {
        if (template == null || template.isBlank()) {
            throw ArborException.badModel("the chat template is empty", null);
        }
        Map<String, Object> context = new HashMap<>();
        List<Map<String, Object>> list = new ArrayList<>(messages.size());
        for (ChatMessage m : messages) {
            Map<String, Object> message = new LinkedHashMap<>();
            message.put("role", m.role());
            message.put("content", m.content());
            list.add(message);
        }
        context.put("messages", list);
        context.put("add_generation_prompt", addGenerationPrompt);
        context.put("bos_token", bosToken == null ? "" : bosToken);
        context.put("eos_token", eosToken == null ? "" : eosToken);
        TemplateFunctions.RAISED.remove();
        RenderResult result;
        try {
            Jinjava engine = jinjava();
            result = withBundleClassLoader(() -> engine.renderForResult(template, context));
        } catch (RuntimeException e) {
            String raised = TemplateFunctions.RAISED.get();
            TemplateFunctions.RAISED.remove();
            if (raised != null) {
                throw refused(raised);
            }
            throw ArborException.badModel("the chat template cannot be rendered: " + e.getMessage(), e);
        }
        String raised = TemplateFunctions.RAISED.get();
        TemplateFunctions.RAISED.remove();
        if (raised != null) {
            throw refused(raised);
        }
        for (TemplateError error : result.getErrors()) {
            if (error.getSeverity() == TemplateError.ErrorType.FATAL) {
                throw ArborException.badModel("the chat template cannot be rendered: " + error.getMessage()
                        + (error.getLineno() > 0 ? " (line " + error.getLineno() + ")" : ""), null);
            }
        }
        return result.getOutput();
    }

    private static ArborException refused(String message) {
        return ArborException.invalid("the chat template refused the conversation: " + message);
    }

    /**
     * Runs {@code action} with this bundle's class loader as the thread's context class loader: Jinjava and the
     * libraries it embeds look some classes up through it, and the calling thread (an HTTP worker) has another.
     */
    private static <T> T withBundleClassLoader(java.util.function.Supplier<T> action) {
        Thread thread = Thread.currentThread();
        ClassLoader previous = thread.getContextClassLoader();
        thread.setContextClassLoader(JinjavaChatTemplateEngine.class.getClassLoader());
        try {
            return action.get();
        } finally {
            thread.setContextClassLoader(previous);
        }
    }
}
