"""Grade many submissions at once on warm workers; a worker that dies is replaced."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import TypeVar

from grader.engine import grade
from grader.manifest import Chapter
from grader.report import Report
from grader.submission import Submission
from grader.sandbox.workerproc import Runner, Sandboxing, runner

T = TypeVar("T")


class WorkerPool:
    """`size` threads, each driving its own warm worker process (or, with `sandbox="bwrap"`, starting
    a cold bubblewrap sandbox per submission)."""

    def __init__(self, size: int, preload: tuple[str, ...] = (), sandbox: Sandboxing = "process"):
        self.size = max(1, size)
        self.preload = preload
        self.sandbox = sandbox
        self._local = threading.local()
        self._workers: list[Runner] = []
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=self.size, thread_name_prefix="grader")

    def worker(self) -> Runner:
        """This thread's worker, started (or restarted, if it died) on demand."""
        current: Runner | None = getattr(self._local, "worker", None)
        if current is None or not current.alive:
            if current is not None:
                current.close()
            current = runner(self.sandbox, self.preload)
            self._local.worker = current
            with self._lock:
                self._workers.append(current)
        return current

    def grade(self, chapter: Chapter, submission: Submission) -> Report:
        return grade(chapter, submission, worker=self.worker())

    def map_unordered(self, fn: Callable[[WorkerPool, T], Report], items: Iterable[T]) -> Iterator[tuple[T, Report]]:
        """Run `fn(pool, item)` for every item concurrently; yield (item, report) as each finishes."""
        futures = {self._executor.submit(fn, self, item): item for item in items}
        for future in as_completed(futures):
            yield futures[future], future.result()

    def close(self) -> None:
        """Wait for the submissions being graded; drop those not started (after Ctrl-C, say)."""
        self._executor.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            for w in self._workers:
                w.close()
            self._workers.clear()

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
