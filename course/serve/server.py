"""Run the `course serve` app: pick the port, print the URL with its token, open the browser,
stop cleanly on Ctrl-C."""

from __future__ import annotations

import threading
import webbrowser
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import uvicorn

from rich.console import Console
from rich.text import Text

from course.run import HOST, PortTaken, port_is_free

GRACE_S = 1
"""How long open pages (their event streams) may hold the server up when it stops."""


def free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def serve(console: Console, workspace: Path | None, *, port: int | None = None, open_browser: bool = True,
          gradebook: Path | None = None) -> int:
    """Serve until Ctrl-C (130, as `course watch`) or SIGTERM (0); PortTaken when `port` is in use."""
    from course.serve.app import create_app, new_token

    if port is not None and not port_is_free(port):
        raise PortTaken(f"port {port} is in use on {HOST}: leave out --port to get a free one")
    chosen = port if port is not None else free_port()
    token = new_token()
    if gradebook is not None:
        from course.serve.gradebook import write_report

        console.print(f"Saved the report as {write_report(gradebook)} (to mail or attach).", markup=False)
    app = create_app(workspace, token=token, port=chosen, gradebook=gradebook)
    url = f"http://{HOST}:{chosen}/?token={token}"
    config = uvicorn.Config(app, host=HOST, port=chosen, log_level="warning", timeout_graceful_shutdown=GRACE_S)
    server = Server(config, on_exit=app.state.stop_streams)
    what = f"the gradebook of {gradebook}" if gradebook is not None else "the course"
    console.print(Text.assemble(f"Serving {what} at ", (url, "bold cyan")))
    console.print("Only this address lets a browser in (keep it to yourself). Ctrl-C stops the server.")
    if open_browser:
        threading.Thread(target=_open_when_started, args=(server, url), daemon=True).start()
    try:
        server.run()
    except KeyboardInterrupt:  # uvicorn stops on Ctrl-C, then raises it again on the way out
        console.print("Stopped serving.")
        return 130
    console.print("Stopped serving.")
    return 0


class Server(uvicorn.Server):
    """uvicorn's server, which also ends the pages' event streams as soon as it is told to stop
    (Ctrl-C): else they would hold it up for its grace time, then end with an error."""

    def __init__(self, config: uvicorn.Config, *, on_exit: Callable[[], None]):
        super().__init__(config)
        self.on_exit = on_exit

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.on_exit()
        super().handle_exit(sig, frame)


def _open_when_started(server: object, url: str) -> None:
    import time

    for _ in range(100):
        if getattr(server, "started", False):
            webbrowser.open(url)
            return
        time.sleep(0.05)
