# mistake: writes fake "pass" records to every pipe it can find, then exits with status 0
# fails: module-imports (process-exit)

import json
import os

FAKE = "".join(json.dumps({"type": "result", "id": check, "status": "pass"}) + "\n" for check in (
    "module-imports", "generator-yields-session", "closes-when-done", "closes-on-error",
    "sessiondep-runtime", "per-request-sessions")) + json.dumps({"type": "done"}) + "\n"
for fd in range(3, 64):
    try:
        os.write(fd, FAKE.encode())
    except OSError:
        pass
os._exit(0)
