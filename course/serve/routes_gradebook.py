"""The instructor's pages of `course serve --gradebook DIR`: the class report and each student's,
rendered by `course.serve.gradebook` (the same page is saved as DIR/report.html)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, HTTPException
from fastapi.responses import HTMLResponse


def student_href(student: str) -> str:
    return "/students/" + quote(student, safe="")


def add_gradebook_routes(app: FastAPI, folder: Path) -> None:
    @app.get("/", response_class=HTMLResponse)
    def report() -> HTMLResponse:
        from course.serve import gradebook

        return HTMLResponse(gradebook.render_report(folder, student_href=student_href))

    @app.get("/students/{student}", response_class=HTMLResponse)
    def student(student: str) -> HTMLResponse:
        from course.serve import gradebook

        try:
            return HTMLResponse(gradebook.render_student(folder, student))
        except (KeyError, LookupError, FileNotFoundError):
            raise HTTPException(404, f"There is no student {student!r} in {folder}.") from None
