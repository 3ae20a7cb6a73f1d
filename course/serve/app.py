"""The FastAPI app of `course serve`: the learner's pages, or (`gradebook=DIR`) the instructor's.

Every request passes `guard`: the Host header must name this server on loopback (no DNS
rebinding), and the token must come with it, as the cookie the first URL (`/?token=...`) sets.
Requests that change something (POST) also carry the token in the form (or an `X-Course-Token`
header), so another site cannot forge them.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape

from course.serve.live import Course, LiveChapter

HERE = Path(__file__).parent
COOKIE = "course_token"
"""The cookie's name, before the port: cookies are shared by every port of a host, so two servers
(a learner's and a gradebook, say) each keep their own."""
KEEP_ALIVE_S = 15.0
"""An SSE comment this often keeps proxies and the browser from dropping a quiet stream."""

templates = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
                        trim_blocks=True, lstrip_blocks=True)


def inline_code(text: str) -> Markup:
    """Plain text with its `code spans` as <code> (a hint's or a message's names)."""
    parts = str(text).split("`")
    if len(parts) % 2 == 0:  # an unpaired backtick: show the text as it is
        return escape(text)
    return Markup("").join(Markup("<code>{}</code>").format(p) if i % 2 else escape(p) for i, p in enumerate(parts))


templates.filters["code"] = inline_code


def render(name: str, **context: Any) -> str:
    return templates.get_template(name).render(**context)


def cookie_name(port: int) -> str:
    return f"{COOKIE}_{port}"


def same(given: str, token: str) -> bool:
    """`given` is the token (in constant time, whatever characters it has)."""
    return secrets.compare_digest(given.encode("utf-8", "replace"), token.encode("utf-8"))


def allowed_hosts(port: int) -> set[str]:
    return {f"127.0.0.1:{port}", f"localhost:{port}"}


def create_app(workspace: Path | None, *, token: str, port: int, gradebook: Path | None = None) -> FastAPI:
    """The app for a learner's `workspace`, or for the gradebook folder `gradebook`."""
    course = Course(workspace) if workspace is not None else None

    stopping = threading.Event()

    def stop_streams() -> None:
        """End the pages' event streams now (the server is stopping: they would hold it up)."""
        stopping.set()
        if course is not None:
            course.wake()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        stop_streams()
        if course is not None:
            await asyncio.to_thread(course.close)

    app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.token = token
    app.state.course = course
    app.state.stopping = stopping
    app.state.stop_streams = stop_streams
    hosts = allowed_hosts(port)
    cookie = cookie_name(port)

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Response:
        if request.headers.get("host", "") not in hosts:
            return PlainTextResponse("This server answers only to 127.0.0.1 and localhost.", status_code=403)
        given = request.query_params.get("token")
        if given is not None and same(given, token):
            kept = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            target = request.url.path + (f"?{urlencode(kept)}" if kept else "")
            answer = RedirectResponse(target, status_code=303)
            answer.set_cookie(cookie, token, httponly=True, samesite="strict", path="/")
            return answer
        if not same(request.cookies.get(cookie, ""), token):
            return HTMLResponse(render("refused.html"), status_code=403)
        return await call_next(request)

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    if gradebook is not None:
        from course.serve.routes_gradebook import add_gradebook_routes

        add_gradebook_routes(app, gradebook)
    else:
        from course.serve.routes_learner import add_learner_routes

        add_learner_routes(app)
    return app


async def require_token(request: Request) -> None:
    """For requests that change something: the token in the form or the `X-Course-Token` header."""
    given = request.headers.get("x-course-token")
    if given is None:
        form = await request.form()
        value = form.get("token")
        given = value if isinstance(value, str) else ""
    if not same(given, request.app.state.token):
        raise HTTPException(403, "This form lacks the course's token: reload the page and try again.")


async def sse(request: Request, live: LiveChapter, fragment: Callable[[], str]) -> StreamingResponse:
    """A stream of `checklist` events for a `LiveChapter`: `fragment()` (its checklist as HTML) now and
    after each change of its version."""
    stopping: threading.Event = request.app.state.stopping
    versions = live.hub.listen()

    async def stream() -> AsyncIterator[str]:
        try:
            yield "retry: 1000\n\n"
            sent = None
            while not stopping.is_set():
                while not versions.empty():  # changes queued meanwhile: one event shows them all
                    versions.get_nowait()
                if live.version != sent:
                    sent = live.version
                    data = "".join(f"data: {line}\n" for line in fragment().splitlines() or [""])
                    yield f"id: {sent}\nevent: checklist\n{data}\n"
                try:
                    await asyncio.wait_for(versions.get(), timeout=KEEP_ALIVE_S)
                except asyncio.TimeoutError:
                    yield ": still here\n\n"
        finally:
            live.hub.leave(versions)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


def new_token() -> str:
    return secrets.token_urlsafe(24)
