package dev.arbor.backend.remote;

import dev.arbor.api.ArborException;
import java.net.URI;
import java.net.URISyntaxException;
import java.util.regex.Pattern;

/**
 * Where a remote model is: {@code grpc://HOST:PORT/MODEL}, the Open Inference Protocol's gRPC endpoint and the name
 * of the served model. Only the operator writes one (in a model or pipeline file); requests never name URLs.
 *
 * @param host  the server's host name or address
 * @param port  its gRPC port
 * @param model the served model's name
 */
record RemoteUrl(String host, int port, String model) {
    private static final Pattern MODEL = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,127}");

    /** Parses {@code url}; INVALID_INPUT saying what a remote model URL looks like. */
    static RemoteUrl parse(String url) {
        String shape = "; a remote model's url is grpc://HOST:PORT/MODEL, e.g. grpc://127.0.0.1:8033/arbor-tiny-ar";
        if (url == null || url.isBlank()) {
            throw ArborException.invalid("a model with backend \"remote\" needs \"url\"" + shape);
        }
        URI uri;
        try {
            uri = new URI(url.trim());
        } catch (URISyntaxException e) {
            throw ArborException.invalid("remote model url '" + url + "' is not a URL (" + e.getReason() + ")" + shape);
        }
        if (!"grpc".equals(uri.getScheme())) {
            throw ArborException.invalid("remote model url '" + url + "' has scheme '" + uri.getScheme()
                    + "'; only grpc (plaintext gRPC) is supported" + shape);
        }
        if (uri.getHost() == null || uri.getPort() < 1 || uri.getPort() > 65535) {
            throw ArborException.invalid("remote model url '" + url + "' needs a host and a port" + shape);
        }
        String path = uri.getPath() == null ? "" : uri.getPath();
        String model = path.startsWith("/") ? path.substring(1) : path;
        if (!MODEL.matcher(model).matches() || uri.getQuery() != null || uri.getFragment() != null
                || uri.getUserInfo() != null) {
            throw ArborException.invalid("remote model url '" + url + "' must end with the served model's name"
                    + " (letters, digits, '.', '_', '-') and carry no user, query or fragment" + shape);
        }
        return new RemoteUrl(uri.getHost(), uri.getPort(), model);
    }

    @Override
    public String toString() {
        return "grpc://" + (host.contains(":") && !host.startsWith("[") ? "[" + host + "]" : host) + ":" + port
                + "/" + model;
    }
}
