"""Grade many submissions at once on warm workers; a worker that dies is replaced.

Scheduling: `size` workers, and twice as many threads feeding them. A thread runs a submission's
static stage (here, in the parent) without holding a worker, and takes whichever worker is free
only for the behavioural job (`_AnyFree`). So while a worker's child runs one submission, the
parent prepares the next one for it, and no worker waits for the parent between jobs. The
parent's side of grading runs one thread at a time (`_parent`): it is Python work the GIL
serialises anyway, and CPython 3.11's `ast` is not safe to use from two threads at once
(gh-106905: "AST constructor recursion depth mismatch").
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any, TypeVar

from grader.engine import grade
from grader.manifest import Chapter
from grader.report import Report
from grader.submission import Submission
from grader.sandbox import limits
from grader.sandbox.workerproc import Runner, Sandboxing, runner

T = TypeVar("T")
FEEDERS = 2
"""Threads per worker: one whose job runs, one preparing the next."""


class WorkerPool:
    """`size` warm worker processes (or, with `sandbox="bwrap"`, runners that start a cold bubblewrap
    sandbox per submission), started at once, each job on whichever is free."""

    def __init__(self, size: int, preload: tuple[str, ...] = (), sandbox: Sandboxing = "process"):
        self.size = max(1, size)
        self.preload = preload
        self.sandbox = sandbox
        self._lock = threading.Lock()
        self._parent = threading.Lock()
        """Held by the thread running grading's parent side; released while its job waits and runs."""
        self._held = threading.local()
        self._slots: list[Runner] = [runner(sandbox, preload) for _ in range(self.size)]
        """The workers, by slot; they import their libraries while the first static stages run."""
        self._free: queue.SimpleQueue[int] = queue.SimpleQueue()
        for slot in range(self.size):
            self._free.put(slot)
        self._retired: list[Runner] = []
        self._cores = limits.usable_cores()
        self._executor = ThreadPoolExecutor(max_workers=FEEDERS * self.size, thread_name_prefix="grader")

    def worker(self) -> Runner:
        """The worker this thread's job runs on (outside a job: the first slot's), started again if it died."""
        return self._live(getattr(self._held, "slot", 0))

    def _live(self, slot: int) -> Runner:
        with self._lock:
            current = self._slots[slot]
            if not current.alive:
                self._retired.append(current)
                current = self._slots[slot] = runner(self.sandbox, self.preload)
        return current

    def run(self, job: dict[str, Any]) -> dict[str, Any]:
        """Run `job` on the first worker free (waiting for one); WorkerDied if that worker fails."""
        slot = self._free.get()
        self._held.slot = slot
        if self.size > 1:  # each worker's jobs on a core of their own (see `grader.sandbox.limits.pin`)
            job = {**job, "cores": [self._cores[slot % len(self._cores)]]}
        try:
            return self._live(slot).run(job)
        finally:
            del self._held.slot
            self._free.put(slot)

    def grade(self, chapter: Chapter, submission: Submission) -> Report:
        with self._parent:
            return grade(chapter, submission, worker=_AnyFree(self))

    def map_unordered(self, fn: Callable[[WorkerPool, T], Report], items: Iterable[T]) -> Iterator[tuple[T, Report]]:
        """Run `fn(pool, item)` for every item concurrently; yield (item, report) as each finishes."""
        futures = {self._executor.submit(fn, self, item): item for item in items}
        for future in as_completed(futures):
            yield futures[future], future.result()

    def close(self) -> None:
        """Wait for the submissions being graded; drop those not started (after Ctrl-C, say)."""
        self._executor.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            for w in (*self._slots, *self._retired):
                w.close()
            self._retired.clear()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _AnyFree:
    """The pool as the engine's runner: each job on the first worker free. The pool's workers are
    its own: the engine never kills or closes them (a dead one is replaced at its next job)."""

    alive = True

    def __init__(self, pool: WorkerPool):
        self.pool = pool

    def run(self, job: dict[str, Any]) -> dict[str, Any]:
        """The job on the first worker free; meanwhile another thread may grade (see `WorkerPool.grade`)."""
        self.pool._parent.release()
        try:
            return self.pool.run(job)
        finally:
            self.pool._parent.acquire()

    def kill(self) -> None:
        pass

    def close(self) -> None:
        pass
