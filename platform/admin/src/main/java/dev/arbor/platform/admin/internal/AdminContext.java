package dev.arbor.platform.admin.internal;

import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import org.osgi.framework.Bundle;
import org.osgi.service.servlet.context.ServletContextHelper;

/** The servlet context of the admin REST endpoint ({@code /admin}): every request must carry the operator's login. */
final class AdminContext extends ServletContextHelper {
    static final String NAME = "dev.arbor.admin";
    static final String PATH = "/admin";

    private final BasicAuth auth;

    AdminContext(Bundle bundle, BasicAuth auth) {
        super(bundle);
        this.auth = auth;
    }

    @Override
    public boolean handleSecurity(HttpServletRequest request, HttpServletResponse response) {
        String user = auth.authenticate(request, response);
        if (user != null) {
            request.setAttribute(REMOTE_USER, user);
            request.setAttribute(AUTHENTICATION_TYPE, HttpServletRequest.BASIC_AUTH);
        }
        return user != null;
    }
}
