# mistake: os._exit(0) at import time ends the test process "successfully"
# fails: module-imports (process-exit)

import os

os._exit(0)
