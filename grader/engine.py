"""Grade one submission: files -> static checks (parent) -> behavioural checks (child) -> Report."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from grader import __version__
from grader.behave import Sandbox, authentic, build_job, interpret, refusal_notes
from grader.sandbox.limits import Limits
from grader.manifest import FILES_CHECK, FILES_TITLE, Chapter, CheckSpec
from grader.report import CheckResult, IntegrityFlag, Report, overall_status
from grader.submission import Submission, checks_fingerprint
from grader.sandbox.workerproc import Runner, Worker, WorkerDied


def grade(chapter: Chapter, submission: Submission, *, worker: Runner | None = None,
          limits: Limits | None = None, early: Collection[str] = (),
          remove: Callable[[Sandbox], None] = Sandbox.remove) -> Report:
    """Grade `submission`. Without a `worker`, a fresh one is started at once, so it imports the
    heavy libraries while the static stage runs here.

    `early` (with a `worker`): the behavioural checks expected to run. When the files compile, they
    start in the worker before the static stage, which runs here meanwhile. If the static stage then
    lets exactly them run, that is the job it would have sent; if not, the early job is dropped
    (waited for first when the static stage allows other checks, which are then run as without
    `early`; else by the next job sent to the worker, see `settle`). The report is the same either
    way; `early` pays off when it is what the static stage allows (see `planned`).

    `remove` removes a job's sandbox once its outcome is read (`course watch` has it done after the
    checklist is on screen)."""
    started = time.perf_counter()
    ordered = chapter.ordered_checks()
    behavioural = [c for c in ordered if c.kind == "behaviour"]
    own = Worker(chapter.preload) if behavioural and worker is None else None
    ahead: _Job | None = None
    try:
        # libcst is imported only now, while the worker process starts and imports its libraries.
        from grader.static.integrity import integrity_flags
        from grader.static.source import compiles, load_sources
        from grader.staticstage import files_verdict, run_static

        expected = [c for c in behavioural if c.id in early]
        if expected and worker is not None and compiles(submission.edited):
            try:
                ahead = _Job.start(chapter, submission, expected, worker, limits, remove, background=True)
            except Exception:  # noqa: BLE001 - it fails again, in its place, if the static stage lets it run
                ahead = None
        sources, problems = load_sources(submission.edited)
        flags = [IntegrityFlag(**f.to_dict()) for f in integrity_flags(sources)]
        files = files_verdict(chapter, problems, sources)
        verdicts: dict[str, dict[str, Any]] = {FILES_CHECK: files}
        outcome = {FILES_CHECK: files["status"]}
        verdicts.update(run_static(chapter, [c for c in ordered if c.kind == "static"], sources, problems, outcome,
                                   files))
        runnable = _runnable(chapter, behavioural, outcome, verdicts)
        notes: list[str] = []
        if ahead is not None and [s.id for s in ahead.specs] != [s.id for s in runnable]:
            # Its child runs checks the static stage holds back: as if it had never run. The worker is
            # needed again at once, or (nothing to run) by the next job sent to it (see `settle`).
            if runnable:
                ahead.drop()
            else:
                _UNFINISHED[id(worker)] = ahead
            ahead = None
        if ahead is not None:
            job, ahead = ahead, None
            verdicts.update(_behave(chapter, job, notes, flags))
        elif runnable:
            verdicts.update(_behave(chapter, _Job.start(chapter, submission, runnable, own or worker, limits,
                                                        remove), notes, flags))
        elif own is not None:
            own.kill()
    except BaseException as exc:
        if ahead is not None:  # the static stage failed: the early job is still the worker's
            ahead.drop(wait=isinstance(exc, Exception))
        raise
    finally:
        if own is not None:
            own.close()
    return _report(chapter, submission, verdicts, notes, time.perf_counter() - started, flags)


_UNFINISHED: dict[int, _Job] = {}
"""An early job whose outcome no grade needs, by the worker still running it."""


def settle(worker: Runner, wait: bool = True) -> None:
    """Wait for the job a grade with `early` left running on `worker` (if any), and remove its sandbox.
    Every job sent to `worker` does this first. Whoever closes or replaces the worker calls it too,
    once the worker is stopped, without `wait` (the job ended with it)."""
    left = _UNFINISHED.pop(id(worker), None)
    if left is not None:
        left.drop(wait)


def planned(chapter: Chapter, report: Report) -> list[str]:
    """The behavioural checks the static stage of `report` let run (its files and static checks
    decide it): what the next grade of much the same work will most likely run too."""
    outcome = {c.id: c.status for c in report.checks if c.kind in ("files", "static")}
    verdicts = {FILES_CHECK: {"status": outcome.get(FILES_CHECK, "error")}}
    return [c.id for c in _runnable(chapter, [c for c in chapter.ordered_checks() if c.kind == "behaviour"], outcome,
                                    verdicts)]


def unable_to_grade(chapter: Chapter, submission: Submission, message: str, *, grader_fault: bool = False) -> Report:
    """The report for a submission that could not be graded at all: the first check fails (or, when
    the grader is at fault, errors) with `message`; every other check is skipped."""
    from grader.staticstage import skipped

    verdicts = {FILES_CHECK: {"status": "error" if grader_fault else "fail", "message": message,
                              "diagnosis": None if grader_fault else "bad-submission"}}
    verdicts.update({c.id: skipped(chapter, FILES_CHECK) for c in chapter.checks})
    return _report(chapter, submission, verdicts, [], 0.0)


def _runnable(chapter: Chapter, behavioural: list[CheckSpec], outcome: dict[str, str],
              verdicts: dict[str, dict[str, Any]]) -> list[CheckSpec]:
    """Behavioural checks whose static prerequisites passed; the rest are skipped here."""
    from grader.staticstage import skipped

    runnable: list[CheckSpec] = []
    planned: set[str] = set()
    for spec in behavioural:
        if outcome.get(FILES_CHECK) != "pass":
            verdicts[spec.id] = skipped(chapter, FILES_CHECK, verdicts[FILES_CHECK])
            outcome[spec.id] = "skip"
            continue
        blocked = next((d for d in spec.depends if d not in planned and outcome.get(d) != "pass"), None)
        if blocked is not None:
            verdicts[spec.id] = skipped(chapter, blocked)
            outcome[spec.id] = "skip"
        else:
            runnable.append(spec)
            planned.add(spec.id)
    return runnable


@dataclass
class _Job:
    """The behavioural checks `specs` sent to a worker, in a sandbox of their own; with `background`,
    run from a thread, so this process can go on meanwhile."""

    specs: list[CheckSpec]
    box: Sandbox
    job: dict[str, Any]
    remove: Callable[[Sandbox], None]
    thread: threading.Thread | None = None
    outcome: dict[str, Any] | None = None
    error: BaseException | None = None

    @classmethod
    def start(cls, chapter: Chapter, submission: Submission, specs: list[CheckSpec], worker: Runner,
              limits: Limits | None, remove: Callable[[Sandbox], None] = Sandbox.remove, *,
              background: bool = False) -> _Job:
        settle(worker)
        box = Sandbox.create(submission)
        try:
            job = cls(specs, box, build_job(chapter, box, specs, limits), remove)
            if background:
                job.thread = threading.Thread(target=job._run, args=(worker,), name="grader-early-job", daemon=True)
                job.thread.start()
            else:
                job._run(worker)
        except BaseException:
            box.remove()
            raise
        return job

    def _run(self, worker: Runner) -> None:
        try:
            self.outcome = worker.run(self.job)
        except BaseException as exc:  # noqa: BLE001 - handed to whoever waits for the job
            self.error = exc

    def wait(self) -> dict[str, Any]:
        """The worker's outcome; raises what running the job raised (WorkerDied)."""
        if self.thread is not None:
            self.thread.join()
        if self.error is not None:
            raise self.error
        assert self.outcome is not None
        return self.outcome

    def drop(self, wait: bool = True) -> None:
        """Wait for the job to end (the worker takes one job at a time) and forget its outcome; without
        `wait` (an interrupt: the worker is about to be stopped), only remove its sandbox."""
        try:
            if wait:
                self.wait()
        except Exception:  # noqa: BLE001 - an outcome nobody reads
            pass
        finally:
            self.remove(self.box)


def _behave(chapter: Chapter, sent: _Job, notes: list[str], flags: list[IntegrityFlag]) -> dict[str, dict[str, Any]]:
    specs, box, job = sent.specs, sent.box, sent.job
    try:
        try:
            result = sent.wait()
        except WorkerDied as exc:
            if exc.during_job:
                return _worker_killed(specs, str(exc))
            return _grader_failed(specs, str(exc), notes)
        result = authentic(result, job["key"])
        if not any(r.get("type") not in ("stack", "ready") for r in result["records"]):
            # Learner code runs only after the harness's first record: without one, the harness never started.
            return _grader_failed(specs, "the test process ended before any check started:\n"
                                  + result.get("output", "")[-1500:], notes)
        notes.extend(refusal_notes(result))
        _add_flags(flags, result)
        if result.get("timed_out"):
            notes.append(f"the behavioural checks were stopped at the {chapter.timeout:g} s time limit")
        if result.get("output_bytes", 0) > len(result.get("output", "")):
            notes.append(f"your code printed {result['output_bytes']:,} bytes; only the start was kept")
        return interpret(specs, result, chapter.timeout, str(box.work))
    finally:
        sent.remove(box)


def _add_flags(flags: list[IntegrityFlag], outcome: dict[str, Any]) -> None:
    """Add the reaches into the harness the child's audit hook saw (`flag` records) to those the
    static stage found, each (file, line, what) once, in file and line order."""
    seen = {(f.file, f.line, f.what) for f in flags}
    for rec in outcome.get("records", []):
        if rec.get("type") != "flag" or not isinstance(rec.get("what"), str):
            continue
        flag = IntegrityFlag(file=str(rec.get("file") or "") or None, what=rec["what"],
                             line=rec["line"] if isinstance(rec.get("line"), int) else None)
        if (flag.file, flag.line, flag.what) not in seen:
            seen.add((flag.file, flag.line, flag.what))
            flags.append(flag)
    flags.sort(key=lambda f: (f.file or "", f.line or 0))


def _grader_failed(specs: list[CheckSpec], why: str, notes: list[str]) -> dict[str, dict[str, Any]]:
    notes.append(why)
    return {s.id: {"status": "error", "message": "the grader's test process failed; this is not your code's "
                   "fault:\n" + why} for s in specs}


def _worker_killed(specs: list[CheckSpec], why: str) -> dict[str, dict[str, Any]]:
    """The worker died of a signal (or hung) while the learner's code ran: their failure, since
    nothing but the code under test acts on the worker then. The first check fails; the rest never ran."""
    first, *rest = specs
    message = (f"{why.split(':', 1)[0]} while your code ran, so no check could finish: does your code act "
               "on other processes (signals, their pipes)?")
    verdicts = {first.id: {"status": "fail", "message": message, "diagnosis": "killed"}}
    verdicts.update({s.id: {"status": "skip", "message": f"not run: the test process was killed during “{first.title}”"}
                     for s in rest})
    return verdicts


def _report(chapter: Chapter, submission: Submission, verdicts: dict[str, dict[str, Any]],
            notes: list[str], duration: float, flags: list[IntegrityFlag] | None = None) -> Report:
    specs: list[tuple[str, str, str, float, CheckSpec | None, int | None]] = [
        (FILES_CHECK, FILES_TITLE, "files", 0, None, None)]
    specs += [(c.id, c.title, c.kind, c.points, c, c.task) for c in chapter.checks]
    gate = chapter.static_points_need
    unscored = gate is not None and verdicts.get(gate, {}).get("status") != "pass"
    """The static checks score nothing: the check they need for their points did not pass."""
    if unscored and any(v.get("status") == "pass" for k, v in verdicts.items() if k != FILES_CHECK
                        and chapter.check(k).kind == "static"):
        notes = [*notes, f"the static checks earn their points once “{chapter.check(gate).title}” passes"]
    checks = []
    for check_id, title, kind, points, spec, task in specs:
        v = verdicts.get(check_id, {"status": "error", "message": "the grader produced no verdict"})
        status = v["status"]
        hints = spec.hints_of(v.get("diagnosis")) if spec is not None else ()
        scored = status == "pass" and not (unscored and kind == "static")
        checks.append(CheckResult(
            id=check_id, title=title, kind=kind, status=status, message=v.get("message") or "",
            file=v.get("file"), line=v.get("line"), column=v.get("column"), diagnosis=v.get("diagnosis"),
            hint=hints[0] if hints and status == "fail" else None, points=points,
            score=points if scored else 0, task=task, duration=float(v.get("duration") or 0),
            output=v.get("output") or "",
        ))
    return Report(
        chapter=chapter.id, title=chapter.title, status=overall_status(checks), checks=checks,
        score=sum(c.score for c in checks), max_score=sum(c.points for c in checks),
        submission=str(submission.origin), duration=round(duration, 3), grader_version=__version__,
        checks_hash=checks_fingerprint(chapter), submission_hash=submission.fingerprint(), notes=notes,
        integrity=flags or [],
    )
