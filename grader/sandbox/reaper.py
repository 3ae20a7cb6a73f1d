"""Nothing a job starts outlives it (process mode; in bubblewrap the PID namespace sees to that).

The child dies with the worker that forked it (`die_with_parent`), and the worker adopts every
orphan its children leave (`adopt_orphans`: processes started in sessions of their own, out of
reach of the child's process-group kill) and kills them after each job (`kill_orphans`). Neither
depends on the audit hook: code that switched it off still cannot leave a process behind.
"""

from __future__ import annotations

import os
import signal

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36


def _prctl(option: int, value: int) -> bool:
    """Linux's prctl(2) (Python has no binding); False where it is not available."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(option, value, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def die_with_parent() -> bool:
    """Have the kernel kill this process when the thread that forked it ends."""
    return _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def adopt_orphans() -> bool:
    """Make this process the one that inherits its descendants' orphans (instead of init)."""
    return _prctl(PR_SET_CHILD_SUBREAPER, 1)


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid`."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue  # it ended meanwhile
        if int(fields[1]) == pid:
            found.append(int(name))
    return found


def kill_orphans(rounds: int = 1000) -> None:
    """Kill and reap every child this process has (after a job, they are all orphans it adopted),
    and the children those leave in turn. Cheap when there are none: one `waitpid` call."""
    for _ in range(rounds):
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return  # no child at all
        if pid:
            continue  # reaped one that had ended
        for child in children(os.getpid()):
            try:
                os.kill(child, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return
