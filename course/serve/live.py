"""Live grading for `course serve`: per chapter opened, the watcher and warm worker of `course watch`
(`FileWatcher`, `SnapshotGrader`) on a thread of its own; each change of state is published to the
pages listening (asyncio queues on the server's loop)."""

from __future__ import annotations

import asyncio
import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from course import progress, snapshot
from course.watch import Event, FileWatcher, SnapshotGrader
from course.workspace import chapter_folder, missing_notes, start_chapter

if TYPE_CHECKING:
    from grader.manifest import Chapter
    from grader.report import Report


@dataclass
class Grade:
    """One grade of the learner's files, as the page shows it."""

    report: Report
    which: str
    """Which save it graded: `at 10:02:03` for the first, then `save 3 (10:04:11)`."""
    missing: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)


class Hub:
    """Fan-out of "something changed" to the pages listening, from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[int]]] = set()

    def listen(self) -> asyncio.Queue[int]:
        """A queue (on the running loop) that receives the chapter's version at each change."""
        listener: asyncio.Queue[int] = asyncio.Queue()
        with self._lock:
            self._listeners.add((asyncio.get_running_loop(), listener))
        return listener

    def leave(self, listener: asyncio.Queue[int]) -> None:
        with self._lock:
            self._listeners = {pair for pair in self._listeners if pair[1] is not listener}

    @property
    def listening(self) -> int:
        with self._lock:
            return len(self._listeners)

    def publish(self, version: int) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for loop, listener in listeners:
            try:
                loop.call_soon_threadsafe(listener.put_nowait, version)
            except RuntimeError:  # the loop is closed: the server is stopping
                pass


class LiveChapter:
    """One chapter graded on every save: its files watched, a warm worker, the latest grade."""

    def __init__(self, workspace: Path, chapter: Chapter):
        self.workspace = workspace
        self.chapter = chapter
        self.hub = Hub()
        self.version = 0
        self.grade: Grade | None = None
        self.grading: str | None = None
        """Which save is being graded right now (None when idle)."""
        self.failed: str | None = None
        """Why the folder cannot be watched, or the last grade failed to run (then "Grade again")."""
        self._events: queue.SimpleQueue[Event] = queue.SimpleQueue()
        self._grader = SnapshotGrader(chapter.preload)
        self._notes = start_chapter(workspace, chapter).notes()
        self._saves = 0
        self._last_state: str | None = None
        self._watcher = FileWatcher(self.folder, set(snapshot.names(chapter)), self._events)
        self._thread = threading.Thread(target=self._run, name=f"course-serve-{chapter.id}", daemon=True)

    @property
    def folder(self) -> Path:
        return chapter_folder(self.workspace, self.chapter.id)

    def start(self) -> None:
        self._watcher.start()
        self._thread.start()
        self._events.put(Event("regrade"))

    def regrade(self) -> None:
        """Grade again even if nothing changed (after a reset, or on request)."""
        self._events.put(Event("regrade"))

    def close(self) -> None:
        self._events.put(Event("stop"))
        self._watcher.stop()
        self._thread.join(timeout=5)
        self._grader.close()

    def _changed(self) -> None:
        self.version += 1
        self.hub.publish(self.version)

    def _run(self) -> None:
        while True:
            event = self._events.get()
            if event.kind == "stop":
                return
            if event.kind == "failed":
                self.failed = event.value
                self._changed()
                continue
            force = event.kind == "regrade"
            while True:  # fold the events already queued into this grade
                try:
                    queued = self._events.get_nowait()
                except queue.Empty:
                    break
                if queued.kind == "stop":
                    return
                force = force or queued.kind == "regrade"
            try:
                self._grade(force=force)
            except Exception as exc:  # noqa: BLE001 - the page says so; the next save tries again
                self.grading = None
                self.failed = f"grading failed: {type(exc).__name__}: {exc}"
                self._changed()

    def _grade(self, *, force: bool) -> None:
        first = self._last_state is None
        which = ""

        def starting(taken: snapshot.Snapshot) -> None:
            nonlocal which
            self._saves += 0 if first else 1
            which = taken.label(None if first else self._saves)
            self.grading = which
            self._changed()

        graded = self._grader.grade(self.chapter, self.folder, unless=None if force else self._last_state,
                                    starting=starting)
        if graded is None:
            return  # saved without a change
        self._last_state = graded.snapshot.state
        progress.record_grade(self.workspace, graded.report)
        missing = graded.snapshot.missing
        notes, self._notes = self._notes, []
        notes += missing_notes(self.workspace, self.chapter, list(missing))
        self.grade = Grade(graded.report, which, missing, notes)
        self.grading = None
        self.failed = None
        self._changed()


MAX_LIVE = 2
"""Chapters graded live at once (each has a warm worker): the one on screen and the one before."""


class Course:
    """The chapters opened in this server, each graded live from its first page view until shutdown."""

    def __init__(self, workspace: Path):
        from course.serve.apps import Apps

        self.workspace = workspace
        self.apps = Apps(workspace)
        """The learners' apps started with the "Run your app" button (`course run`)."""
        self._lock = threading.Lock()
        self._live: dict[str, LiveChapter] = {}

    def live(self, chapter: Chapter) -> LiveChapter:
        """The chapter graded live (started now if it was not); the least recently opened chapters
        that no page listens to beyond `MAX_LIVE` stop, each with its worker."""
        with self._lock:
            found = self._live.pop(chapter.id, None)
            if found is None:
                found = LiveChapter(self.workspace, chapter)
                found.start()
            self._live[chapter.id] = found  # the most recent last
            idle = [c for c in self._live.values() if c is not found and not c.hub.listening]
            stopping = idle[:max(len(self._live) - MAX_LIVE, 0)]
            for old in stopping:
                del self._live[old.chapter.id]
        for old in stopping:
            old.close()
        return found

    def get(self, chapter_id: str) -> LiveChapter | None:
        with self._lock:
            return self._live.get(chapter_id)

    def wake(self) -> None:
        """Wake every page listening (to notice that the server stops)."""
        with self._lock:
            live = list(self._live.values())
        for chapter in live:
            chapter.hub.publish(chapter.version)

    def close(self) -> None:
        with self._lock:
            live, self._live = list(self._live.values()), {}
        for chapter in live:
            chapter.close()
        self.apps.close()
