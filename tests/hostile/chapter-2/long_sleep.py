# mistake: sleeps at import time
# fails: module-imports (timeout)

import time

time.sleep(600)
