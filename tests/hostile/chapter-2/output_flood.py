# mistake: prints 100 MB while it is imported
# fails: module-imports (file-size)

import sys

for _ in range(1000):
    sys.stdout.write("x" * 100_000)
