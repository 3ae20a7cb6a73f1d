# mistake: starts a process with multiprocessing (spawn, which has no audit event of its own)
# fails: module-imports (refused)

import multiprocessing

multiprocessing.get_context("spawn").Process(target=print).start()
