# mistake: prints a fake passing report, then exits with status 0
# fails: module-imports (process-exit)

import json
import os
import sys

print(json.dumps({"status": "pass", "score": 11, "checks": [{"id": "module-imports", "status": "pass"}]}))
print(json.dumps({"type": "done"}))
sys.stdout.flush()
os._exit(0)
