package dev.arbor.platform.deploy;

import java.util.List;

/**
 * The deploy watcher's service: the files of the deploy folder it does not install now, and why: not trusted, not a
 * bundle, or superseded by a higher version of the same bundle in another file (since 1.1.0). The watcher registers
 * it once it has scanned the folder once, so a tool that finds the service sees every file present at start.
 */
public interface RefusedFiles {
    /** At most this many refusals are listed (a folder full of junk must not make the listing unbounded). */
    int LIMIT = 100;

    /** One refused file: its name in the deploy folder and a reason that says how to fix it (or undo it). */
    record Refusal(String file, String reason) {
    }

    /** The files refused now (deleted or later accepted files drop out), by file name, at most {@link #LIMIT}. */
    List<Refusal> refused();
}
