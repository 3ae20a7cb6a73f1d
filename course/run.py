"""`course run [chapter-N]`: serve the learner's app from their workspace, to try it by hand.

uvicorn serves `main:app` from the chapter's folder on 127.0.0.1 (only this machine can reach it)
with auto-reload: a save restarts it. The folder is the working directory, so the app's SQLite
file (`database.db`) is created next to the learner's files. Unlike `grade`, this runs the
learner's code as it is, with their rights, as `fastapi dev` would.
"""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path

from rich.console import Console
from rich.text import Text

from course.workspace import start_chapter
from grader.manifest import Chapter

HOST = "127.0.0.1"
PREFERRED_PORT = 8000
APP = "main:app"


class PortTaken(Exception):
    """The port asked for is in use (a usage error)."""


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((HOST, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def free_port() -> int:
    """8000 when it is free, else one the system picks."""
    if port_is_free(PREFERRED_PORT):
        return PREFERRED_PORT
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def serve(console: Console, workspace: Path, chapter: Chapter, *, port: int | None = None) -> int:
    """Serve the chapter's app until Ctrl-C; 0 when stopped (PortTaken when `port` is in use)."""
    if port is not None and not port_is_free(port):
        raise PortTaken(f"port {port} is in use on {HOST}: leave out --port to get a free one")
    import uvicorn

    started = start_chapter(workspace, chapter)
    for note in started.notes():
        console.print(Text(note, style="yellow"))
    chosen = port if port is not None else free_port()
    url = f"http://{HOST}:{chosen}"
    console.print(Text.assemble(("Serving ", "bold"), (f"{chapter.id}", "bold"), f" from {started.folder / 'main.py'}"))
    console.print(Text.assemble("Try it in your browser: ", (f"{url}/docs", "bold cyan"),
                                " (each endpoint has a form: Try it out, then Execute)"))
    console.print("Saving a file restarts the app. Ctrl-C stops it.")
    os.chdir(started.folder)  # the app's database.db goes next to the learner's files
    uvicorn.run(APP, host=HOST, port=chosen, reload=True, reload_dirs=[str(started.folder)],
                app_dir=str(started.folder))
    console.print("Stopped serving.")
    return 0
