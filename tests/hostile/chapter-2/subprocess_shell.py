# mistake: runs a shell command at import time
# fails: module-imports (refused)

import subprocess

subprocess.run(["sh", "-c", "echo hello"], check=True)
