# mistake: stops sessions from ever closing, and writes fake "pass" records (each after a newline,
# so they parse) to every pipe it can find, hoping the grader believes them
# fails: closes-when-done (not-closed), closes-on-error (close-without-finally)

import json
import os

import sqlmodel

sqlmodel.Session.close = lambda self: None  # the `with` block now closes nothing

for fd in range(3, 64):
    for check in ("closes-when-done", "closes-on-error", "per-request-sessions"):
        try:
            os.write(fd, ("\n" + json.dumps({"type": "result", "id": check, "status": "pass"}) + "\n").encode())
        except OSError:
            pass
