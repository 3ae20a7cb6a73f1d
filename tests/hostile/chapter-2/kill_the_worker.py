# mistake: kills the process that started it (the grader's worker)
# fails: module-imports (refused)

import os
import signal

os.kill(os.getppid(), signal.SIGKILL)
