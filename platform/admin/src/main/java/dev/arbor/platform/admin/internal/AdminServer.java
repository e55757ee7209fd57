package dev.arbor.platform.admin.internal;

import dev.arbor.api.pipeline.PipelineService;
import jakarta.servlet.Servlet;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Dictionary;
import java.util.Hashtable;
import java.util.List;
import java.util.Map;
import org.apache.felix.webconsole.spi.SecurityProvider;
import org.osgi.framework.BundleContext;
import org.osgi.framework.Constants;
import org.osgi.framework.ServiceRegistration;
import org.osgi.service.cm.Configuration;
import org.osgi.service.cm.ConfigurationAdmin;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;
import org.osgi.service.component.annotations.ConfigurationPolicy;
import org.osgi.service.component.annotations.Deactivate;
import org.osgi.service.component.annotations.Reference;
import org.osgi.service.metatype.annotations.AttributeDefinition;
import org.osgi.service.metatype.annotations.Designate;
import org.osgi.service.metatype.annotations.ObjectClassDefinition;
import org.osgi.service.servlet.context.ServletContextHelper;
import org.osgi.service.servlet.whiteboard.HttpWhiteboardConstants;
import org.osgi.service.servlet.whiteboard.Preprocessor;

/**
 * Turns the admin server on and off. Off (the default, so one-shot commands listen on nothing): Felix HTTP runs no
 * connector. On: loads the operator's credentials, registers them as the Web Console's security provider and as the
 * guard of the admin REST context, then points Felix HTTP (Config Admin PID {@value #JETTY_PID}) at host:port.
 *
 * <p>Switched by Config Admin PID {@value #PID} ({@code enabled}, {@code host}, {@code port}) or, without that
 * configuration, by framework properties {@value #ENABLED_PROPERTY}, {@value #HOST_PROPERTY}, {@value #PORT_PROPERTY}.
 */
@Component(immediate = true, configurationPid = AdminServer.PID, configurationPolicy = ConfigurationPolicy.OPTIONAL)
@Designate(ocd = AdminServer.Config.class)
public class AdminServer {
    static final String PID = "dev.arbor.admin";
    static final String ENABLED_PROPERTY = "arbor.admin.enabled";
    static final String HOST_PROPERTY = "arbor.admin.host";
    static final String PORT_PROPERTY = "arbor.admin.port";
    static final String DEFAULT_HOST = "127.0.0.1";
    static final int DEFAULT_PORT = 8081;
    /** Felix HTTP Jetty's configuration. */
    static final String JETTY_PID = "org.apache.felix.http";
    private static final System.Logger LOG = System.getLogger("dev.arbor.admin");

    @ObjectClassDefinition(name = "Arbor admin server", description = "The Web Console (/system/console) and the"
            + " admin REST endpoint (/admin), behind the operator's credentials (etc/admin.json,"
            + " ARBOR_ADMIN_PASSWORD or the generated etc/admin-password).")
    @interface Config {
        @AttributeDefinition(description = "Serve the admin endpoints (default: framework property "
                + ENABLED_PROPERTY + ", else false)")
        boolean enabled();

        @AttributeDefinition(description = "Address to bind; anything but a loopback address exposes the admin"
                + " server to the network (default: " + HOST_PROPERTY + ", else " + DEFAULT_HOST + ")")
        String host();

        @AttributeDefinition(description = "TCP port (default: " + PORT_PROPERTY + ", else " + DEFAULT_PORT + ")")
        int port();
    }

    @Reference
    private ConfigurationAdmin configurationAdmin;

    @Reference
    private PipelineService pipelines;

    private final List<ServiceRegistration<?>> registrations = new ArrayList<>();
    private boolean served;

    @Activate
    void activate(BundleContext context, Map<String, Object> config) throws IOException {
        boolean enabled = Boolean.parseBoolean(setting(context, config, "enabled", ENABLED_PROPERTY, "false"));
        String host = setting(context, config, "host", HOST_PROPERTY, DEFAULT_HOST);
        int port = Integer.parseInt(setting(context, config, "port", PORT_PROPERTY, Integer.toString(DEFAULT_PORT)));
        if (!enabled) {
            stopServing();
            return;
        }
        if (port <= 0 || port > 65535) {
            throw new IllegalArgumentException("admin server port must be 1..65535, got " + port);
        }
        String etc = context.getProperty("arbor.etc");
        if (etc == null) {
            etc = Path.of(context.getProperty("arbor.home") == null ? "." : context.getProperty("arbor.home"), "etc")
                    .toString();
        }
        AdminCredentials credentials;
        try {
            credentials = AdminCredentials.load(Path.of(etc), System::getenv);
        } catch (IOException e) {
            LOG.log(System.Logger.Level.ERROR, "the admin server stays off: " + e.getMessage());
            throw e;
        }
        BasicAuth auth = new BasicAuth(credentials);

        Dictionary<String, Object> provider = new Hashtable<>();
        provider.put(SecurityProvider.PROPERTY_ID, AdminSecurityProvider.ID);
        provider.put(Constants.SERVICE_RANKING, 1000);
        registrations.add(context.registerService(SecurityProvider.class, new AdminSecurityProvider(auth), provider));

        // before any servlet: cross-origin writes are refused whichever context (console, /admin) would serve them
        registrations.add(context.registerService(Preprocessor.class, new SameOriginWrites(), new Hashtable<>()));

        Dictionary<String, Object> helper = new Hashtable<>();
        helper.put(HttpWhiteboardConstants.HTTP_WHITEBOARD_CONTEXT_NAME, AdminContext.NAME);
        helper.put(HttpWhiteboardConstants.HTTP_WHITEBOARD_CONTEXT_PATH, AdminContext.PATH);
        registrations.add(context.registerService(ServletContextHelper.class,
                new AdminContext(context.getBundle(), auth), helper));

        Dictionary<String, Object> servlet = new Hashtable<>();
        servlet.put(HttpWhiteboardConstants.HTTP_WHITEBOARD_SERVLET_PATTERN, "/*");
        servlet.put(HttpWhiteboardConstants.HTTP_WHITEBOARD_SERVLET_NAME, "arbor-admin-rest");
        servlet.put(HttpWhiteboardConstants.HTTP_WHITEBOARD_CONTEXT_SELECT,
                "(" + HttpWhiteboardConstants.HTTP_WHITEBOARD_CONTEXT_NAME + "=" + AdminContext.NAME + ")");
        registrations.add(context.registerService(Servlet.class,
                new AdminRestServlet(new Operations(context, pipelines)), servlet));

        Hashtable<String, Object> jetty = new Hashtable<>();
        jetty.put("org.apache.felix.http.enable", true);
        jetty.put("org.apache.felix.https.enable", false);
        jetty.put("org.apache.felix.http.host", host);
        jetty.put("org.osgi.service.http.port", port);
        jetty.put("org.apache.felix.http.jetty.sendServerHeader", false);
        jettyConfiguration().update(jetty);
        served = true;
        if (!java.net.InetAddress.getByName(host).isLoopbackAddress()) {
            LOG.log(System.Logger.Level.WARNING, "the admin server binds " + host + ", not a loopback address: anyone"
                    + " who can reach it may try the operator password; keep it behind a firewall or use 127.0.0.1");
        }
        String base = "http://" + (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
        // a generated password is news the operator must see even with quiet logs
        System.Logger.Level level = credentials.generated() ? System.Logger.Level.WARNING : System.Logger.Level.INFO;
        LOG.log(level, "admin server on " + base + "/system/console (Web Console) and " + base
                + "/admin (" + String.join(", ", AdminRestServlet.routes()) + "); user '" + credentials.username()
                + "', password from " + credentials.source());
    }

    @Deactivate
    void deactivate(BundleContext context) {
        registrations.forEach(r -> {
            try {
                r.unregister();
            } catch (IllegalStateException alreadyGone) {
                // the framework is stopping
            }
        });
        registrations.clear();
        if (served && frameworkStopping(context)) {
            // Jetty stops with the framework, and an update now would reach it on Config Admin's thread while its
            // bundle stops (Felix HTTP then logs "Exception while initializing Jetty": its context is invalid). No
            // configuration outlives the run: the launcher starts every run on cleaned storage.
            served = false;
        } else if (served) {
            stopServing();
        }
    }

    private static boolean frameworkStopping(BundleContext context) {
        try {
            return context.getBundle(0).getState() == org.osgi.framework.Bundle.STOPPING;
        } catch (IllegalStateException invalid) {
            return true; // this bundle's context is already gone: the framework is stopping it
        }
    }

    /** Switches the Felix HTTP connector off (it stays off after a restart with persistent storage, too). */
    private void stopServing() {
        try {
            if (configurationAdmin.listConfigurations("(service.pid=" + JETTY_PID + ")") == null) {
                served = false;
                return; // never switched on: the framework properties keep the connector off
            }
            Configuration c = jettyConfiguration();
            Hashtable<String, Object> off = new Hashtable<>();
            off.put("org.apache.felix.http.enable", false);
            off.put("org.apache.felix.https.enable", false);
            c.update(off);
        } catch (IOException | IllegalStateException | org.osgi.framework.InvalidSyntaxException e) {
            LOG.log(System.Logger.Level.DEBUG, "could not switch the admin HTTP connector off: " + e);
        }
        served = false;
    }

    private Configuration jettyConfiguration() throws IOException {
        return configurationAdmin.getConfiguration(JETTY_PID, null);
    }

    /** The Config Admin value of {@code key}, else framework property {@code property}, else {@code fallback}. */
    private static String setting(BundleContext context, Map<String, Object> config, String key, String property,
                                  String fallback) {
        Object v = config.get(key);
        if (v != null && !v.toString().isBlank()) {
            return v.toString().trim();
        }
        String p = context.getProperty(property);
        return p == null || p.isBlank() ? fallback : p.trim();
    }
}
