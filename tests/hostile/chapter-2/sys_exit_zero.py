# mistake: sys.exit(0) at import time
# fails: module-imports (exit-at-import)

import sys

sys.exit(0)
