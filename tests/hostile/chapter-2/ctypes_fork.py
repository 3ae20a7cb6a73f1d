# mistake: calls fork() through ctypes, around the grader's checks
# fails: module-imports (refused)

import ctypes

ctypes.CDLL(None).fork()
