# mistake: lifts the grader's memory limit
# fails: module-imports (refused)

import resource

resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
