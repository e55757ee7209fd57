package dev.arbor.platform.admin.internal;

import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import org.apache.felix.webconsole.spi.SecurityProvider;

/**
 * The Web Console's authentication: the operator account of {@link AdminCredentials} instead of the console's
 * built-in default. Registered with id {@value #ID}, which the launcher makes a required provider
 * ({@code felix.webconsole.security.providers}) so the console serves nothing while this provider is absent.
 */
final class AdminSecurityProvider implements SecurityProvider {
    static final String ID = "arbor";

    private final BasicAuth auth;

    AdminSecurityProvider(BasicAuth auth) {
        this.auth = auth;
    }

    @Override
    public Object authenticate(HttpServletRequest request, HttpServletResponse response) {
        return auth.authenticate(request, response);
    }

    /** One account with every right: the operator. */
    @Override
    public boolean authorize(Object user, String role) {
        return user != null;
    }

    /** Basic authentication keeps no server-side state; the browser forgets the credentials when closed. */
    @Override
    public void logout(HttpServletRequest request, HttpServletResponse response) {
    }
}
