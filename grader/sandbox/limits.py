"""Resource limits for the child that runs learner code."""

from __future__ import annotations

import os
import resource
import signal
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Limits:
    cpu_seconds: int = 20
    memory_mb: int = 1536
    """Address space; the child with fastapi and sqlmodel loaded uses about a third of it."""
    file_mb: int = 64
    open_files: int = 256
    processes: int = 64
    """Processes and threads the child may add to its user's current count (TestClient needs a few
    threads). The kernel ignores this limit for root; the sandbox's audit hook refuses forks anyway."""

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def apply(limits: dict[str, int]) -> None:
    """Set the limits on this process (and what it forks); called in the child only."""
    mb = 1024 * 1024
    _set(resource.RLIMIT_CPU, limits["cpu_seconds"], limits["cpu_seconds"] + 1)
    _set(resource.RLIMIT_AS, limits["memory_mb"] * mb)
    _set(resource.RLIMIT_FSIZE, limits["file_mb"] * mb)
    _set(resource.RLIMIT_NOFILE, limits["open_files"])
    _set(resource.RLIMIT_CORE, 0)
    if os.getuid() != 0:
        # RLIMIT_NPROC counts every task of the real user, so the cap is relative to what runs now.
        _set(resource.RLIMIT_NPROC, user_tasks(os.getuid()) + limits["processes"])
    # Writing past the file-size limit raises OSError(EFBIG) instead of killing the child.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


CORES: tuple[int, ...] = ()
"""The cores the job may use (`pin`): its child runs on one, chapter 5's runs side by side on the others
(`grader.mutation.run_many`)."""


def usable_cores() -> list[int]:
    """The cores this process may run on (all of them where the system cannot say: macOS)."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def pin(cores: list[int] | None = None) -> None:
    """Keep this process (a job's child) on one core of `cores` (default: any it may use now), the one it
    runs on if it can. The threads of a check hand work to each other several times per request (the
    test's, the TestClient's event loop, an endpoint's worker thread), and each hand-off to another core
    costs far more than one on the same core: most on a virtual machine, where chapter 7's job takes 40%
    less time on one core than spread over two. Where the system cannot pin (macOS), nothing changes."""
    global CORES
    allowed = usable_cores()
    CORES = tuple(c for c in cores or allowed if c in allowed) or tuple(allowed)
    here = current_core()
    try:
        os.sched_setaffinity(0, {here if here in CORES else CORES[0]})
    except (AttributeError, OSError):
        pass


def current_core() -> int | None:
    """The core this process last ran on (`/proc/self/stat`'s 39th field)."""
    try:
        with open("/proc/self/stat", "rb") as stat:
            return int(stat.read().rsplit(b")", 1)[1].split()[36])
    except (OSError, IndexError, ValueError):
        return None


def user_tasks(uid: int) -> int:
    """How many tasks (processes and threads) the user `uid` has now, as RLIMIT_NPROC counts them
    (by real user id, the first of the `Uid:` line's four). Runs in every child: it looks for the
    two lines it needs rather than parsing every status file whole."""
    real_uid = b"\nUid:\t%d\t" % uid
    total = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status", "rb") as status:
                text = status.read()
        except OSError:
            continue  # it ended meanwhile
        if real_uid in text:
            start = text.find(b"\nThreads:\t")
            total += int(text[start + 10:text.index(b"\n", start + 1)]) if start >= 0 else 1
    return total


def _set(which: int, soft: int, hard: int | None = None) -> None:
    current_soft, current_hard = resource.getrlimit(which)
    hard = soft if hard is None else hard
    if current_hard != resource.RLIM_INFINITY:
        hard = min(hard, current_hard)
        soft = min(soft, hard)
    resource.setrlimit(which, (soft, hard))
