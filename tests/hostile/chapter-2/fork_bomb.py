# mistake: a fork bomb at import time (the sandbox refuses the first fork)
# fails: module-imports (refused)

import os

while True:
    os.fork()
