package dev.arbor.platform.admin.internal;

import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.ServletRequest;
import jakarta.servlet.ServletResponse;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.net.URI;
import java.util.Locale;
import java.util.Set;
import org.osgi.service.servlet.whiteboard.Preprocessor;

/**
 * Cross-site request forgery guard for the whole admin server (Web Console and {@code /admin}): a request that may
 * change state (any method but GET, HEAD, OPTIONS, TRACE) whose {@code Origin} (else {@code Referer}) is not this
 * server's own origin is answered 403 before authentication. A browser sends one of them with every cross-site
 * write, so a page elsewhere cannot make an operator's browser act; clients that send neither (curl, scripts) are
 * not browsers and pass. Registered as a Preprocessor: it runs for every request, whichever servlet context serves it.
 */
final class SameOriginWrites implements Preprocessor {
    private static final System.Logger LOG = System.getLogger("dev.arbor.admin");
    private static final Set<String> SAFE = Set.of("GET", "HEAD", "OPTIONS", "TRACE");

    @Override
    public void doFilter(ServletRequest req, ServletResponse res, FilterChain chain)
            throws IOException, ServletException {
        HttpServletRequest request = (HttpServletRequest) req;
        HttpServletResponse response = (HttpServletResponse) res;
        if (SAFE.contains(request.getMethod().toUpperCase(Locale.ROOT))) {
            chain.doFilter(req, res);
            return;
        }
        String origin = request.getHeader("Origin");
        String source = origin != null ? origin : request.getHeader("Referer");
        if (source == null || sameOrigin(source, request)) {
            chain.doFilter(req, res);
            return;
        }
        LOG.log(System.Logger.Level.WARNING, "refused a cross-origin " + request.getMethod() + " "
                + request.getRequestURI() + " from " + request.getRemoteAddr() + ": " + (origin != null ? "Origin "
                : "Referer ") + abbreviate(source) + " is not this admin server");
        response.sendError(HttpServletResponse.SC_FORBIDDEN, "cross-origin requests may not change the admin server;"
                + " use the console from its own address");
    }

    /** True when {@code source} (an Origin or Referer) names the scheme, host and port the request was sent to. */
    static boolean sameOrigin(String source, HttpServletRequest request) {
        URI uri;
        try {
            uri = URI.create(source.trim());
        } catch (IllegalArgumentException e) {
            return false; // "null" (an opaque origin) and garbage alike
        }
        if (uri.getScheme() == null || uri.getHost() == null) {
            return false;
        }
        String scheme = uri.getScheme().toLowerCase(Locale.ROOT);
        int port = uri.getPort() != -1 ? uri.getPort() : scheme.equals("https") ? 443 : scheme.equals("http") ? 80 : -1;
        return scheme.equals(request.getScheme().toLowerCase(Locale.ROOT))
                && host(uri.getHost()).equals(host(request.getServerName()))
                && port == request.getServerPort();
    }

    private static String host(String host) {
        String h = host.toLowerCase(Locale.ROOT);
        return h.startsWith("[") && h.endsWith("]") ? h.substring(1, h.length() - 1) : h;
    }

    private static String abbreviate(String s) {
        String clean = s.replaceAll("[\\p{Cntrl}]", "?");
        return clean.length() <= 100 ? clean : clean.substring(0, 97) + "...";
    }

    @Override
    public void init(jakarta.servlet.FilterConfig config) {
    }

    @Override
    public void destroy() {
    }
}
