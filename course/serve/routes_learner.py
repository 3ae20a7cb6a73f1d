"""The learner's pages: home, chapter (lesson + live checklist), hint, quiz, solution, reset.

Each calls the same functions as the CLI command of the same name (course.listing, course.hints,
course.quiz, course.solution, course.reset), so both share progress.json and the workspace.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from course import hints, progress, quiz as quiz_flow, reset as reset_flow, solution as solution_flow
from course.listing import PASSED, bar, chapter_states, to_continue
from course.serve import checklist
from course.serve.app import render, require_token, sse
from course.serve.apps import runnable
from course.serve.lesson import code_html, pygments_css, render_markdown
from course.serve.live import Course, LiveChapter
from grader.content import ContentError
from grader.manifest import Chapter
from grader.outline import ChapterOutline

Token = Annotated[None, Depends(require_token)]


def _chapter(chapter_id: str) -> Chapter:
    from course.chapters import UnknownChapter, find_chapter

    try:
        return find_chapter(chapter_id)
    except (UnknownChapter, ContentError) as exc:
        raise HTTPException(404, str(exc)) from None


def _page(request: Request, name: str, **context: Any) -> HTMLResponse:
    return HTMLResponse(render(name, token=request.app.state.token, **context))


def _course(request: Request) -> Course:
    return request.app.state.course


def fragment(request: Request, live: LiveChapter) -> str:
    return render("_checklist.html", v=checklist.view(live), token=request.app.state.token,
                  chapter_id=live.chapter.id)


def add_learner_routes(app: FastAPI) -> None:
    @app.get("/", response_class=HTMLResponse)
    def home(request: Request) -> HTMLResponse:
        states = chapter_states(_course(request).workspace)
        passed = sum(s.state == PASSED for s in states)
        return _page(request, "home.html", states=states, next=to_continue(states), passed=passed,
                     bar=bar(passed, len(states) or 1, 20), title="Your course")

    @app.get("/chapters/{chapter_id}", response_class=HTMLResponse)
    def chapter_page(request: Request, chapter_id: str) -> HTMLResponse:
        chapter = _chapter(chapter_id)
        outline = ChapterOutline.of(chapter)
        try:
            lesson = render_markdown(outline.lesson_path.read_text(encoding="utf-8"))[0]
        except OSError:
            lesson = "<p>This chapter has no lesson.</p>"
        live = _course(request).live(chapter)
        return _page(request, "chapter.html", chapter=chapter, lesson=lesson,
                     checklist=fragment(request, live), title=chapter.title,
                     has_quiz=chapter.quiz_path.is_file(), unlocked=solution_flow.unlocked(live.workspace, chapter),
                     runnable=runnable(live.workspace, chapter.id), app=_course(request).apps.get(chapter.id))

    @app.get("/chapters/{chapter_id}/events")
    async def events(request: Request, chapter_id: str) -> Response:
        """The checklist, now and at every change (server-sent events)."""
        live = await asyncio.to_thread(lambda: _course(request).live(_chapter(chapter_id)))
        return await sse(request, live, lambda: fragment(request, live))

    @app.post("/chapters/{chapter_id}/hint")
    def next_hint(request: Request, chapter_id: str, _token: Token) -> Response:
        chapter = _chapter(chapter_id)
        try:
            hints.reveal(_course(request).workspace, ChapterOutline.of(chapter))
        except hints.NoHint:
            pass  # the checklist says why (no grade yet, or passed)
        if request.headers.get("x-course-fragment"):
            return HTMLResponse(fragment(request, _course(request).live(chapter)))
        return RedirectResponse(f"/chapters/{chapter.id}#first-failure", status_code=303)

    @app.post("/chapters/{chapter_id}/regrade")
    def regrade(request: Request, chapter_id: str, _token: Token) -> Response:
        chapter = _chapter(chapter_id)
        _course(request).live(chapter).regrade()
        return RedirectResponse(f"/chapters/{chapter.id}", status_code=303)

    @app.post("/chapters/{chapter_id}/run")
    def run_app(request: Request, chapter_id: str, _token: Token) -> Response:
        """Start (or stop, with `stop=1`) `course run` for the chapter's app."""
        chapter = _chapter(chapter_id)
        apps = _course(request).apps
        if request.query_params.get("stop"):
            apps.stop(chapter.id)
        elif runnable(apps.workspace, chapter.id):
            apps.start(chapter.id)
        return RedirectResponse(f"/chapters/{chapter.id}#your-app", status_code=303)

    @app.get("/chapters/{chapter_id}/quiz", response_class=HTMLResponse)
    def quiz_page(request: Request, chapter_id: str) -> HTMLResponse:
        chapter = _chapter(chapter_id)
        questions = _quiz(chapter)
        best = progress.entry(_course(request).workspace, chapter.id).get("quiz")
        return _page(request, "quiz.html", chapter=chapter, quiz=questions, marked=None, best=best,
                     title=f"Quiz · {chapter.title}", missing=[])

    @app.post("/chapters/{chapter_id}/quiz", response_class=HTMLResponse)
    async def quiz_answers(request: Request, chapter_id: str, _token: Token) -> HTMLResponse:
        chapter = _chapter(chapter_id)
        questions = _quiz(chapter)
        form = await request.form()
        picks: list[int | None] = []
        for number, question in enumerate(questions.questions, start=1):
            value = form.get(f"q{number}")
            picks.append(int(value) if isinstance(value, str) and value.isdigit()
                         and int(value) < len(question.choices) else None)
        missing = [n for n, pick in enumerate(picks, start=1) if pick is None]
        workspace = _course(request).workspace
        if missing:
            return _page(request, "quiz.html", chapter=chapter, quiz=questions, marked=None, picks=picks,
                         best=progress.entry(workspace, chapter.id).get("quiz"), missing=missing,
                         title=f"Quiz · {chapter.title}")
        chosen = [pick for pick in picks if pick is not None]
        score, best = quiz_flow.record(workspace, chapter.id, questions, chosen)
        return _page(request, "quiz.html", chapter=chapter, quiz=questions, marked=chosen, picks=picks,
                     score=score, best={"best": best, "total": len(questions.questions)}, missing=[],
                     title=f"Quiz · {chapter.title}")

    @app.get("/chapters/{chapter_id}/solution", response_class=HTMLResponse)
    def solution_page(request: Request, chapter_id: str) -> HTMLResponse:
        chapter = _chapter(chapter_id)
        workspace = _course(request).workspace
        if not solution_flow.unlocked(workspace, chapter):
            grade = progress.entry(workspace, chapter.id).get("last_grade")
            return _page(request, "solution.html", chapter=chapter, files=None, grade=grade,
                         title=f"Solution · {chapter.title}")
        files = [(f.name, code_html(f.solution) if f.solution is not None else None,
                  code_html(f.mine) if f.mine is not None else None, _diff(f))
                 for f in solution_flow.compare(workspace, chapter)]
        return _page(request, "solution.html", chapter=chapter, files=files, title=f"Solution · {chapter.title}")

    @app.get("/chapters/{chapter_id}/reset", response_class=HTMLResponse)
    def reset_page(request: Request, chapter_id: str) -> HTMLResponse:
        chapter = _chapter(chapter_id)
        todo = reset_flow.plan(_course(request).workspace, chapter)
        return _page(request, "reset.html", chapter=chapter, todo=todo, backup=None, title=f"Reset · {chapter.title}")

    @app.post("/chapters/{chapter_id}/reset", response_class=HTMLResponse)
    def reset_chapter(request: Request, chapter_id: str, _token: Token) -> HTMLResponse:
        chapter = _chapter(chapter_id)
        workspace = _course(request).workspace
        todo = reset_flow.plan(workspace, chapter)
        backup: Path | None = None
        if todo.replace:
            backup = reset_flow.reset(workspace, chapter, todo)
            live = _course(request).get(chapter.id)
            if live is not None:
                live.regrade()
        return _page(request, "reset.html", chapter=chapter, todo=todo, backup=backup, done=True,
                     title=f"Reset · {chapter.title}")

    @app.get("/pygments.css")
    def pygments() -> Response:
        return Response(pygments_css(), media_type="text/css")


def _diff(compared: solution_flow.Compared) -> str | None:
    """How the learner's file differs from the solution, highlighted ("" when it is the same; None
    when one of them is missing)."""
    from course.workspace import unified_diff

    if compared.mine is None or compared.solution is None:
        return None
    diff = unified_diff(compared.mine, compared.solution, f"yours/{compared.name}", f"solution/{compared.name}")
    return code_html(diff, "diff") if diff else ""


def _quiz(chapter: Chapter) -> Any:
    from grader.quiz import load_quiz

    try:
        return load_quiz(chapter.quiz_path)
    except ContentError as exc:
        raise HTTPException(404, f"{chapter.id} has no practice questions ({exc}).") from None
