package dev.arbor.platform.admin.internal;

import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Base64;

/** HTTP Basic authentication against the {@link AdminCredentials}, shared by the Web Console and the admin REST. */
final class BasicAuth {
    static final String REALM = "Arbor admin";
    private static final System.Logger LOG = System.getLogger("dev.arbor.admin");

    private final AdminCredentials credentials;
    private final LoginThrottle throttle;

    BasicAuth(AdminCredentials credentials) {
        this(credentials, new LoginThrottle());
    }

    BasicAuth(AdminCredentials credentials, LoginThrottle throttle) {
        this.credentials = credentials;
        this.throttle = throttle;
    }

    /**
     * The authenticated user name, or null after answering 401, or 429 while the client's address must wait after
     * repeated failures ({@link LoginThrottle}); the caller must not write a response then.
     */
    String authenticate(HttpServletRequest request, HttpServletResponse response) {
        String header = request.getHeader("Authorization");
        if (header != null && header.regionMatches(true, 0, "Basic ", 0, 6)) {
            String address = request.getRemoteAddr();
            long wait = throttle.secondsToWait(address);
            if (wait > 0) {
                // not even checked: while an address waits, a right guess is worth nothing to it
                tooManyAttempts(response, wait);
                return null;
            }
            String decoded;
            try {
                decoded = new String(Base64.getDecoder().decode(header.substring(6).trim()), StandardCharsets.UTF_8);
            } catch (IllegalArgumentException e) {
                decoded = "";
            }
            int colon = decoded.indexOf(':');
            if (colon > 0 && credentials.matches(decoded.substring(0, colon), decoded.substring(colon + 1))) {
                throttle.succeeded(address);
                return decoded.substring(0, colon);
            }
            long imposed = throttle.failed(address);
            LOG.log(System.Logger.Level.WARNING, "admin login refused from " + address + " for "
                    + request.getRequestURI() + ": wrong user name or password" + (imposed > 0 ? "; further attempts"
                    + " from " + address + " are refused for " + imposed + " s" : ""));
        }
        try {
            response.setHeader("WWW-Authenticate", "Basic realm=\"" + REALM + "\", charset=\"UTF-8\"");
            response.sendError(HttpServletResponse.SC_UNAUTHORIZED, "the admin server needs the operator's user name"
                    + " and password (see etc/admin.json, " + AdminCredentials.PASSWORD_ENV + " or etc/admin-password)");
        } catch (IOException | IllegalStateException e) {
            // the client went away or the response was committed: nothing more to tell it
        }
        return null;
    }

    private static void tooManyAttempts(HttpServletResponse response, long seconds) {
        try {
            response.setHeader("Retry-After", Long.toString(seconds));
            response.sendError(429, "too many failed admin logins from this address; try again in " + seconds + " s");
        } catch (IOException | IllegalStateException e) {
            // the client went away
        }
    }
}
