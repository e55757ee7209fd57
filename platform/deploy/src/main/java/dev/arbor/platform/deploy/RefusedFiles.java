package dev.arbor.platform.deploy;

import java.util.List;

/** The deploy watcher's service: the files of the deploy folder it currently refuses, and why. */
public interface RefusedFiles {
    /** At most this many refusals are listed (a folder full of junk must not make the listing unbounded). */
    int LIMIT = 100;

    /** One refused file: its name in the deploy folder and a reason that says how to fix it. */
    record Refusal(String file, String reason) {
    }

    /** The files refused now (deleted or later accepted files drop out), by file name, at most {@link #LIMIT}. */
    List<Refusal> refused();
}
