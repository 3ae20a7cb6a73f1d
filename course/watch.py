"""`course watch [chapter-N]`: re-grade on every save, on one warm worker kept across grades.

Three threads feed one queue of events: a file watcher (watchfiles) posts saves, a key reader
posts key presses (single keys in cbreak mode on a terminal, whole lines otherwise), and the
main thread grades and draws. A save during a grade is picked up right after it.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import select
import signal
import sys
import threading
from pathlib import Path
from typing import Any, NamedTuple

from rich.console import Console
from rich.text import Text

from course import progress
from course.hints import show_hint
from course.listing import bar, chapter_states, show as show_list
from course.terminal import stdin_is_interactive
from course.workspace import chapter_folder, start_chapter, starter_files
from grader.manifest import Chapter, ContentError, chapter_ids, load_chapter
from grader.outline import ChapterOutline

DEBOUNCE_MS = 1600
"""Longest a burst of saves is gathered for before grading."""
STEP_MS = 40
"""Quiet time that ends a burst: an editor's save is usually several writes in a few milliseconds.
watchfiles looks for changes every STEP_MS and yields once a look finds nothing new, so a save
reaches the grader 1 to 2 steps after it happened."""
READY_TIMEOUT_MS = 250
"""watchfiles reports this long a quiet spell once it is running: our sign that saves are being seen."""
EDITOR_TEMP = re.compile(r"(^\.|~$|\.sw.$|\.swpx$|\.tmp$|\.bak$|\.orig$|^4913$|^#.*#$|^\.#)")
"""Names editors and tools write next to the real file (vim's 4913 probe, emacs #autosave#, ...)."""


class Event(NamedTuple):
    kind: str
    """change | key | failed | eof"""
    value: str = ""


class FileWatcher:
    """A thread posting a `change` event for every burst of saves to the chapter's files in `folder`."""

    def __init__(self, folder: Path, names: set[str], events: queue.Queue[Event]):
        self.folder = Path(os.path.realpath(folder))
        self.names = names
        self.events = events
        self.ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="course-watch-files", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def wanted(self, _change: Any, path: str) -> bool:
        """A learner's file: not the workspace's own writes, caches, or an editor's temp files."""
        try:
            relative = Path(os.path.realpath(path)).relative_to(self.folder)
        except ValueError:
            return False
        if any(part == "__pycache__" or part.startswith(".") for part in relative.parts):
            return False
        if EDITOR_TEMP.search(relative.name):
            return False
        return relative.as_posix() in self.names or relative.suffix == ".py"

    def _run(self) -> None:
        try:
            from watchfiles import watch

            for changes in watch(self.folder, watch_filter=self.wanted, stop_event=self._stop,
                                 debounce=DEBOUNCE_MS, step=STEP_MS, rust_timeout=READY_TIMEOUT_MS,
                                 yield_on_timeout=True, raise_interrupt=False):
                self.ready.set()
                if changes:
                    self.events.put(Event("change"))
        except Exception as exc:  # noqa: BLE001 - any failure to watch is reported, with the way out
            self.events.put(Event("failed", f"{type(exc).__name__}: {exc}"))
        finally:
            self.ready.set()


class Keys:
    """Posts key presses: single keys in cbreak mode when stdin is a terminal, else whole lines.

    The terminal's settings are restored on exit, however the watch ends (q, Ctrl-C, an error).
    """

    def __init__(self, events: queue.Queue[Event]):
        self.events = events
        self.fd = sys.stdin.fileno()
        self.tty = os.isatty(self.fd)
        self._saved: Any = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="course-watch-keys", daemon=True)

    def __enter__(self) -> Keys:
        if self.tty:
            import termios
            import tty

            self._saved = termios.tcgetattr(self.fd)
            tty.setcbreak(self.fd, termios.TCSANOW)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._saved is not None:
            import termios

            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
        self._thread.join(timeout=1)

    def _run(self) -> None:
        pending = ""
        while not self._stop.is_set():
            if not select.select([self.fd], [], [], 0.2)[0]:
                continue
            try:
                data = os.read(self.fd, 64).decode("utf-8", "replace")
            except OSError:
                data = ""
            if not data:
                self.events.put(Event("eof"))
                return
            if self.tty:
                for char in data:
                    self.events.put(Event("key", char))
                continue
            pending += data
            while "\n" in pending:
                line, pending = pending.split("\n", 1)
                self.events.put(Event("key", line.strip()[:1] or "\n"))


class Watch:
    """One watch session: the chapter on screen, its folder watched, one warm worker."""

    def __init__(self, console: Console, workspace: Path, chapter: Chapter, *, manual: bool):
        from grader.workerproc import Worker

        self.console = console
        self.workspace = workspace
        self.chapter = chapter
        self.manual = manual
        self.events: queue.Queue[Event] = queue.Queue()
        self.worker = Worker(chapter.preload)  # warms up while the first files are located
        self.watcher: FileWatcher | None = None
        self.reads_keys = manual or stdin_is_interactive()
        """Keys on a terminal; with --manual, lines from a pipe too (end of input quits)."""
        self.notes: list[str] = []
        self.last_hash: str | None = None
        self.passed = False

    @property
    def folder(self) -> Path:
        return chapter_folder(self.workspace, self.chapter.id)

    def run(self) -> int:
        """Watch until q, end of input or Ctrl-C; 1 if files cannot be watched."""
        restore = _exit_on_hangup()
        try:
            with Keys(self.events) if self.reads_keys else contextlib.nullcontext():
                return self._loop()
        except KeyboardInterrupt:
            self.console.print("\nStopped watching.")
            return 130
        finally:
            if self.watcher is not None:
                self.watcher.stop()
            self.worker.close()
            restore()

    def _loop(self) -> int:
        self._open(self.chapter)
        while True:
            try:
                event = self.events.get(timeout=0.5)
            except queue.Empty:
                continue
            if event.kind == "failed":
                self.console.print(Text(f"Cannot watch {self.folder} for saves ({event.value}).", style="red"))
                self.console.print(f"Use `course watch {self.chapter.id} --manual` instead: it re-grades when "
                                   "you press Enter.")
                return 1
            if event.kind == "eof":
                return 0
            if event.kind == "change":
                self._drain_changes()
                self._grade(force=False)
            elif event.kind == "key" and self._key(event.value.lower()):
                return 0

    def _drain_changes(self) -> None:
        """Fold saves already queued into this grade; keep any key press for later."""
        kept = []
        while True:
            try:
                event = self.events.get_nowait()
            except queue.Empty:
                break
            if event.kind != "change":
                kept.append(event)
        for event in kept:
            self.events.put(event)

    def _key(self, key: str) -> bool:
        """Act on a key; True to quit."""
        if key == "q":
            return True
        if key in ("\n", "\r", "r"):
            self._grade(force=True)
        elif key == "h":
            self.console.print()
            show_hint(self.console, self.workspace, ChapterOutline.of(self.chapter), check_stale=False,
                      again="Press h again")
        elif key == "l":
            self.console.print()
            show_list(self.console, self.workspace)
        elif key == "n":
            self._next()
        return False

    def _next(self) -> None:
        following = _following(self.chapter.id)
        if not self.passed:
            self.console.print(f"n moves on to the next chapter once every check of {self.chapter.id} passes.")
        elif following is None:
            self.console.print(f"{self.chapter.id} is the last chapter: there is no next one.")
        else:
            try:
                chapter = load_chapter(following)
            except ContentError as exc:
                self.console.print(Text(f"{following} cannot be opened: {exc}", style="magenta"))
                return
            self._open(chapter)

    def _open(self, chapter: Chapter) -> None:
        """Start (if needed) and watch `chapter`, then grade it."""
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher = None
        self.chapter = chapter
        self.last_hash = None
        started = start_chapter(self.workspace, chapter)
        self.notes = started.notes()
        if not self.manual:
            names = set(chapter.files) | set(starter_files(chapter))
            self.watcher = FileWatcher(self.folder, names, self.events)
            self.watcher.start()
        self._grade(force=True)
        if self.watcher is not None:
            self.watcher.ready.wait(timeout=10)

    def _grade(self, *, force: bool) -> None:
        from grader.engine import grade
        from grader.submission import SubmissionError, locate
        from grader.workerproc import Worker

        try:
            submission = locate(self.chapter, self.folder)
        except SubmissionError as exc:
            self.console.print(Text(f"Cannot grade: {exc}", style="red"))
            return
        if not force and submission.fingerprint() == self.last_hash:
            return  # saved without a change (or touched by a tool): nothing new to say
        for attempt in (1, 2):
            if not self.worker.alive:
                self.worker.close()
                self.worker = Worker(self.chapter.preload)
            report = grade(self.chapter, submission, worker=self.worker)
            if self.worker.alive or attempt == 2:
                break  # a worker that died mid-grade is replaced and the grade run again, once
        self.last_hash = report.submission_hash
        progress.record_grade(self.workspace, report)
        self.passed = report.status == "pass"
        self._draw(report)

    def _draw(self, report: Any) -> None:
        from grader.render.text import render

        self.console.clear()
        for note in self.notes:
            self.console.print(Text(note, style="yellow"))
        self.notes = []
        render(report, self.console, folder=self.folder)
        states = chapter_states(self.workspace)
        done = sum(s.state == "passed" for s in states)
        counts = report.counts()
        self.console.print(f"{bar(counts['pass'], len(report.checks), 12)} {counts['pass']}/{len(report.checks)} "
                           f"checks of {self.chapter.id} · course: {done} of {len(states)} chapters passed")
        following = _following(self.chapter.id)
        if self.passed:
            where = f"Press n to go on to {following}." if following else "That was the last chapter: well done!"
            self.console.print(Text(f"{self.chapter.id} passed. {where}", style="bold green"))
            self.console.print(f"Also: `course quiz {self.chapter.id}`, `course solution {self.chapter.id}`.")
        self.console.print(Text(self._status_line(), style="dim"))

    def _status_line(self) -> str:
        how = "Press Enter to re-grade" if self.manual else f"Watching {self.folder} for saves"
        if not self.reads_keys:
            return f"{how} · Ctrl-C to stop"
        keys = ["h hint", "l list"] + (["n next chapter"] if self.passed and _following(self.chapter.id) else [])
        return f"{how} · " + " · ".join(keys + ["q quit"])


def _following(chapter_id: str) -> str | None:
    ids = chapter_ids()
    return ids[ids.index(chapter_id) + 1] if chapter_id in ids and ids.index(chapter_id) + 1 < len(ids) else None


def _exit_on_hangup() -> Any:
    """Turn SIGTERM and SIGHUP into a normal exit, so the terminal and the worker are cleaned up."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def leave(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    saved = {sig: signal.signal(sig, leave) for sig in (signal.SIGTERM, signal.SIGHUP)}

    def restore() -> None:
        for sig, handler in saved.items():
            signal.signal(sig, handler)

    return restore


def default_chapter(workspace: Path) -> str | None:
    """The chapter to continue, by the same rule as `course list`."""
    from course.listing import to_continue

    chosen = to_continue(chapter_states(workspace))
    return chosen.id if chosen else None
