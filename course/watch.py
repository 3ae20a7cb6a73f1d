"""`course watch [chapter-N]`: re-grade on every save, on one warm worker kept across grades.

Three threads feed one queue of events: a file watcher (watchfiles) posts saves, a key reader
posts key presses (single keys in cbreak mode on a terminal, whole lines otherwise), and the
main thread grades and draws. A save during a grade is graded right after it (each grade is of
a snapshot of the folder, so the screen never shows a stale result as current).
"""

from __future__ import annotations

import contextlib
import io
import os
import queue
import re
import select
import signal
import sys
import threading
from pathlib import Path
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from rich.console import Console
from rich.text import Text

from course import progress, snapshot
from course import watch_screen as screen
from course.hints import show_hint
from course.listing import bar, show as show_list
from course.terminal import stdin_is_interactive
from course.workspace import chapter_folder, missing_notes, start_chapter
from grader.manifest import Chapter, ContentError, chapter_ids, load_chapter
from grader.outline import ChapterOutline

if TYPE_CHECKING:
    from grader.behave import Sandbox
    from grader.report import Report
    from grader.submission import Submission

DEBOUNCE_MS = 1600
"""Longest a burst of saves is gathered for before grading."""
STEP_MS = 10
"""Quiet time that ends a burst: an editor's save is several writes within a millisecond or two.
watchfiles looks for changes every STEP_MS and yields once a look finds nothing new, so a save
reaches the grader 1 to 2 steps (10-20 ms) after it happened. A burst longer than that is graded
twice at worst: the next snapshot differs, so the screen still ends on the last state."""
READY_TIMEOUT_MS = 250
"""watchfiles reports this long a quiet spell once it is running: our sign that saves are being seen."""
EDITOR_TEMP = re.compile(r"(^\.|~$|\.sw.$|\.swpx$|\.tmp$|\.bak$|\.orig$|^4913$|^#.*#$|^\.#)")
"""Names editors and tools write next to the real file (vim's 4913 probe, emacs #autosave#, ...)."""
PIPED_WIDTH = 10_000
"""Piped output is a log: its lines are not wrapped."""


class Event(NamedTuple):
    kind: str
    """change | key | resize | failed | eof"""
    value: str = ""


class FileWatcher:
    """A thread posting a `change` event (its value: `tag`) for every burst of saves to the chapter's
    files in `folder`."""

    def __init__(self, folder: Path, names: set[str], events: queue.SimpleQueue[Event], tag: str = ""):
        self.folder = Path(os.path.realpath(folder))
        self.names = names
        self.events = events
        self.tag = tag
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
                    self.events.put(Event("change", self.tag))
        except Exception as exc:  # noqa: BLE001 - any failure to watch is reported, with the way out
            self.events.put(Event("failed", f"{type(exc).__name__}: {exc}"))
        finally:
            self.ready.set()


class Graded(NamedTuple):
    report: Report
    snapshot: snapshot.Snapshot


class SnapshotGrader:
    """Grades snapshots of chapter folders on one warm worker, replaced (and the grade run again,
    once) when it dies mid-grade. `course watch` and `course serve` grade through it."""

    def __init__(self, preload: tuple[str, ...] | list[str] = ()):
        from grader.sandbox.workerproc import Worker

        self.preload = tuple(preload)
        self.worker = Worker(self.preload)  # warms up while the first files are located
        self.early: list[str] = []
        """The behavioural checks to start before the static stage (`grader.engine.grade`'s `early`):
        those the static stage of the last two grades let run, when it let the same ones run both
        times, so this one most likely will too. (When it does not, the early job costs the worker's
        time: a learner flipping between two saves the static stage treats differently would pay
        it at every other save.)"""
        self._planned: list[str] = []
        self.removals = Removals()
        """Each grade's sandbox is removed after its checklist is drawn."""

    def grade(self, chapter: Chapter, folder: Path, *, unless: str | None = None,
              starting: Callable[[snapshot.Snapshot], None] | None = None) -> Graded | None:
        """Grade a snapshot of `folder`; None when its state is `unless` (saved without a change).
        `starting` is told of the snapshot just before its grade starts."""
        import tempfile

        with tempfile.TemporaryDirectory(prefix="course-watch-") as scratch:
            taken = snapshot.take(chapter, folder, Path(scratch))
            if taken.state == unless:
                return None
            if starting is not None:
                starting(taken)
            return Graded(self._run(chapter, taken.submission), taken)

    def _run(self, chapter: Chapter, submission: Submission) -> Report:
        from grader.engine import grade, planned, settle
        from grader.sandbox.workerproc import Worker

        for attempt in (1, 2):
            if not self.worker.alive:
                self.worker.close()
                settle(self.worker, wait=False)
                self.worker = Worker(self.preload)
            report = grade(chapter, submission, worker=self.worker, early=self.early if attempt == 1 else (),
                           remove=self.removals.put)
            if self.worker.alive or attempt == 2:
                break  # a worker that died mid-grade is replaced and the grade run again, once (not early)
        now = planned(chapter, report)
        self.early, self._planned = (now if now == self._planned else []), now
        return report

    def close(self) -> None:
        from grader.engine import settle

        self.worker.close()
        settle(self.worker, wait=False)  # a job left running for an early grade ended with the worker
        self.removals.close()


class Removals:
    """A thread removing the sandboxes it is given, one after the other, so a grade's result is shown
    first; `close` waits until every one is gone."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Sandbox | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="course-watch-removals", daemon=True)
        self._thread.start()

    def put(self, box: Sandbox) -> None:
        self._queue.put(box)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        while (box := self._queue.get()) is not None:
            box.remove()


class Keys:
    """Posts key presses: single keys in cbreak mode when stdin is a terminal, else whole lines.

    The terminal's settings are restored on exit, however the watch ends (q, Ctrl-C, an error).
    """

    def __init__(self, events: queue.SimpleQueue[Event]):
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
    """One watch session: the chapter on screen, its folder watched, one warm worker.

    Every grade is of a snapshot of the folder (course.snapshot): a save during a grade makes the
    next snapshot differ, so it is graded right after; a deletion too. The screen is redrawn in
    place on a terminal (course.watch_screen) and says which save it shows.
    """

    def __init__(self, console: Console, workspace: Path, chapter: Chapter, *, manual: bool):
        self.console = console
        self.workspace = workspace
        self.chapter = chapter
        self.manual = manual
        self.events: queue.SimpleQueue[Event] = queue.SimpleQueue()
        self.grader = SnapshotGrader(chapter.preload)  # warms up while the first files are located
        self.watcher: FileWatcher | None = None
        self.reads_keys = manual or stdin_is_interactive()
        """Keys on a terminal; with --manual, lines from a pipe too (end of input quits)."""
        self.in_place = console.is_terminal
        """Redraw one screen (a terminal), or append to a log (piped)."""
        self.notes: list[str] = []
        self.last_state: str | None = None
        self.saves = 0
        """Grades of a changed folder since the chapter was opened: the number of the save on screen."""
        self.graded = ""
        """Which save the screen shows, for the status line."""
        self.view: screen.Checklist | None = None
        self.showing_list = False
        self.passed = False

    @property
    def folder(self) -> Path:
        return chapter_folder(self.workspace, self.chapter.id)

    def run(self) -> int:
        """Watch until q, end of input or Ctrl-C; 1 if files cannot be watched."""
        restore = _signals(self.events if self.in_place else None)
        try:
            with Keys(self.events) if self.reads_keys else contextlib.nullcontext():
                return self._loop()
        except KeyboardInterrupt:
            self._leave("Stopped watching.")
            return 130
        finally:
            if self.watcher is not None:
                self.watcher.stop()
            self.grader.close()
            restore()

    def _leave(self, message: str = "") -> None:
        """End the screen: the cursor below it, then `message`."""
        if self.in_place:
            self.console.file.write("\n")
        if message:
            self.console.print(message)

    def _loop(self) -> int:
        self._open(self.chapter)
        while True:
            try:
                event = self.events.get(timeout=0.5)
            except queue.Empty:
                continue
            if event.kind == "failed":
                self._leave()
                self.console.print(Text(f"Cannot watch {self.folder} for saves ({event.value}).", style="red"))
                self.console.print(f"Use `course watch {self.chapter.id} --manual` instead: it re-grades when "
                                   "you press Enter.")
                return 1
            if event.kind == "eof":
                self._leave()
                return 0
            if event.kind == "change":
                self._drain("change")
                self._grade(force=False)
            elif event.kind == "resize":
                self._drain("resize")
                self._draw()
            elif event.kind == "key" and self._key(event.value.lower()):
                self._leave()
                return 0

    def _drain(self, kind: str) -> None:
        """Fold events of `kind` already queued into this one; keep the others for later."""
        kept = []
        while True:
            try:
                event = self.events.get_nowait()
            except queue.Empty:
                break
            if event.kind != kind:
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
            self._hint()
        elif key == "l":
            self.showing_list = not self.showing_list or not self.in_place
            self._draw(only_new=True)
        elif key == "n":
            self._next()
        return False

    def _hint(self) -> None:
        """Reveal the next hint, shown under the first failure."""
        unwrapped = Console(file=io.StringIO(), width=PIPED_WIDTH, force_terminal=self.console.is_terminal,
                            color_system=self.console.color_system, highlight=False, markup=False)
        show_hint(unwrapped, self.workspace, ChapterOutline.of(self.chapter), check_stale=False,
                  again="Press h again")
        if self.view is not None:  # wrapped to the terminal's width at each draw
            self.view.hints = Text.from_ansi(unwrapped.file.getvalue().rstrip("\n"))
        self.showing_list = False
        self._draw(only_new=True)

    def _next(self) -> None:
        following = _following(self.chapter.id)
        if not self.passed:
            self._say(f"n moves on to the next chapter once every check of {self.chapter.id} passes.")
        elif following is None:
            self._say(f"{self.chapter.id} is the last chapter: there is no next one.")
        else:
            try:
                chapter = load_chapter(following)
            except ContentError as exc:
                self._say(f"{following} cannot be opened: {exc}")
                return
            self._open(chapter)

    def _say(self, message: str) -> None:
        """A short answer to a key: in the status line (until the next redraw), or printed."""
        if self.in_place:
            self._draw(status=f"{message} · {self._keys()}")
        else:
            self.console.print(message)

    def _open(self, chapter: Chapter) -> None:
        """Start (if needed) and watch `chapter`, then grade it."""
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher = None
        self.chapter = chapter
        self.last_state = None
        self.saves = 0
        started = start_chapter(self.workspace, chapter)
        self.notes = started.notes()
        if not self.manual:
            self.watcher = FileWatcher(self.folder, set(snapshot.names(chapter)), self.events)
            self.watcher.start()
        self._grade(force=True)
        if self.watcher is not None:
            self.watcher.ready.wait(timeout=10)

    def _grade(self, *, force: bool) -> None:
        first = self.last_state is None
        which = ""

        def starting(taken: snapshot.Snapshot) -> None:
            nonlocal which
            self.saves += 0 if first else 1
            which = taken.label(None if first else self.saves)
            if self.in_place and self.view is not None:
                self._draw(status=f"Grading {which}…")

        graded = self.grader.grade(self.chapter, self.folder, unless=None if force else self.last_state,
                                   starting=starting)
        if graded is None:
            return  # saved without a change (or touched by a tool): nothing new to say
        report = graded.report
        self.last_state = graded.snapshot.state
        self.graded = f"Graded {which}"
        progress.record_grade(self.workspace, report)
        self.passed = report.status == "pass"
        self.showing_list = False
        self.view = self._checklist(report, graded.snapshot.missing)
        self._draw()

    def _checklist(self, report: Report, missing: tuple[str, ...]) -> screen.Checklist:
        notes, self.notes = self.notes, []
        lost = missing_notes(self.workspace, self.chapter, [m for m in missing if m in self.chapter.files])
        notes += missing_notes(self.workspace, self.chapter, [m for m in missing if m not in self.chapter.files])
        passed = []
        if report.status == "pass":
            following = _following(self.chapter.id)
            where = f"Press n to go on to {following}." if following else "That was the last chapter: well done!"
            passed = [f"{self.chapter.id} passed. {where}",
                      f"Also: `course quiz {self.chapter.id}`, `course solution {self.chapter.id}`."]
        counts = report.counts()
        return screen.Checklist(report, self.folder, notes=notes, first_notes=lost, passed=passed,
                                bar=bar(counts["pass"], len(report.checks), 12))

    def _draw(self, *, only_new: bool = False, status: str | None = None) -> None:
        """Redraw the screen (on a terminal), with `status` for a status line of the moment; piped, print
        the checklist, or only what `only_new` asks for."""
        width = self.console.width if self.in_place else PIPED_WIDTH
        height = self.console.height if self.in_place else None
        if self.showing_list:
            with self.console.capture() as captured:
                show_list(self.console, self.workspace)
            listed = Text.from_ansi(captured.get().rstrip("\n"))
            lines = screen.panel(listed, status or self._status_line(back=True), width, height)
        elif self.view is None:
            return
        elif only_new and not self.in_place:
            lines = [line for part in (self.view.hints or Text("")).split("\n") for line in screen.wrap(part, width)]
        else:
            lines = screen.checklist(self.view, status or self._status_line(), width, height)
        screen.draw(self.console, lines, in_place=self.in_place)

    def _status_line(self, *, back: bool = False) -> str:
        """Which save is shown, what is watched, and the keys."""
        how = "Press Enter to re-grade" if self.manual else f"Watching {_shown(self.folder)}"
        head = f"{self.graded} · {how}" if self.graded else how
        return f"{head} · {self._keys(back=back)}"

    def _keys(self, *, back: bool = False) -> str:
        if not self.reads_keys:
            return "Ctrl-C to stop"
        keys = ["h hint", "l back to the checklist" if back else "l list"]
        keys += ["n next chapter"] if self.passed and _following(self.chapter.id) else []
        return " · ".join(keys + ["q quit"])


def _shown(folder: Path) -> str:
    """The folder as short as it reads: relative to here, else from ~."""
    from grader.render.text import shown_path

    shown = shown_path(folder)
    home = str(Path.home())
    return "~" + shown[len(home):] if shown.startswith(home + os.sep) else shown


def _following(chapter_id: str) -> str | None:
    ids = chapter_ids()
    return ids[ids.index(chapter_id) + 1] if chapter_id in ids and ids.index(chapter_id) + 1 < len(ids) else None


def _signals(events: queue.SimpleQueue[Event] | None) -> Any:
    """Turn SIGTERM and SIGHUP into a normal exit, so the terminal and the worker are cleaned up;
    with `events`, post a `resize` event when the terminal's size changes. Returns the undo."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def leave(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    handlers: dict[int, Any] = {signal.SIGTERM: leave, signal.SIGHUP: leave}
    if events is not None:
        handlers[signal.SIGWINCH] = lambda _signum, _frame: events.put(Event("resize"))  # SimpleQueue: reentrant
    saved = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}

    def restore() -> None:
        for sig, handler in saved.items():
            signal.signal(sig, handler)

    return restore
