package dev.arbor.platform.http.internal;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.exc.StreamConstraintsException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;

/**
 * Parses request bodies as JSON within limits no client can push past: nesting depth, number and field-name length,
 * and string and document length no larger than the body limit. A body past a limit or not JSON is a 400 saying
 * what is wrong.
 */
final class RequestJson {
    /** Deeper than any request this API defines (about 6 levels) by far; bounds the parser's stack and work. */
    static final int MAX_NESTING = 64;
    /** Digits of one number: 64 is more than any long or double needs. */
    static final int MAX_NUMBER_LENGTH = 64;
    /** Characters of one field name. */
    static final int MAX_NAME_LENGTH = 1024;

    private final ObjectMapper mapper;

    RequestJson(long maxBodyBytes) {
        int maxLength = (int) Math.min(Integer.MAX_VALUE, maxBodyBytes);
        StreamReadConstraints limits = StreamReadConstraints.builder()
                .maxNestingDepth(MAX_NESTING)
                .maxNumberLength(MAX_NUMBER_LENGTH)
                .maxNameLength(MAX_NAME_LENGTH)
                .maxStringLength(maxLength)
                .maxDocumentLength(maxBodyBytes)
                .build();
        this.mapper = new ObjectMapper(JsonFactory.builder().streamReadConstraints(limits).build());
    }

    /** The body's JSON tree; a 400 naming the problem (and where, when the parser knows) when it is not acceptable. */
    JsonNode parse(byte[] body) {
        try {
            return mapper.readTree(body);
        } catch (StreamConstraintsException e) {
            // e.g. "Document nesting depth (65) exceeds the maximum allowed (64, from `StreamReadConstraints...`)"
            String limit = e.getOriginalMessage().replaceAll(", from `[^`]*`", "");
            throw ApiError.invalid(null, "the request body breaks a limit of this server's JSON reader: " + limit);
        } catch (JsonProcessingException e) {
            throw ApiError.invalid(null, "the request body is not valid JSON: " + e.getOriginalMessage()
                    + where(e.getLocation()));
        } catch (IOException e) {
            throw new UncheckedIOException(e); // reading a byte array does no I/O
        }
    }

    /** " (line L, column C)", or nothing when the parser reports no location (some errors have none). */
    static String where(JsonLocation location) {
        return location == null || location.getLineNr() < 0 ? ""
                : " (line " + location.getLineNr() + ", column " + location.getColumnNr() + ")";
    }
}
