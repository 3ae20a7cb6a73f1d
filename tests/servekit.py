"""A `course serve` app running for real (uvicorn on a free loopback port, in a thread of the test
process), for the serve tests and the browser tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI


@dataclass
class Served:
    app: FastAPI
    port: int
    token: str
    workspace: Path | None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def entry(self) -> str:
        """The URL `course serve` prints: it sets the token cookie."""
        return f"{self.base}/?token={self.token}"

    def url(self, path: str) -> str:
        return self.base + path


@contextmanager
def serving(workspace: Path | None, *, gradebook: Path | None = None) -> Iterator[Served]:
    import uvicorn

    from course.serve.app import create_app, new_token
    from course.serve.server import GRACE_S, free_port

    port, token = free_port(), new_token()
    app = create_app(workspace, token=token, port=port, gradebook=gradebook)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           timeout_graceful_shutdown=GRACE_S))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the course server did not start")
        time.sleep(0.02)
    try:
        yield Served(app, port, token, workspace)
    finally:
        app.state.stop_streams()
        server.should_exit = True
        thread.join(timeout=15)
