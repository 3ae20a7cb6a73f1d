"""Terminal manners shared by the `course` commands: plain text when piped or with NO_COLOR,
wrapping to the terminal's width, a pager for long text.

The consoles read no rich markup: text from the course (titles like `Annotated[Session, ...]`)
is printed as it is, and styles are given with `rich.text.Text`.
"""

from __future__ import annotations

import os
import sys

from rich.console import Console


def plain_wanted() -> bool:
    return os.environ.get("NO_COLOR", "") != ""


def make_console(stderr: bool = False) -> Console:
    """A console that wraps to a terminal's width, and never wraps or styles piped output.

    With NO_COLOR it prints no escape codes at all (rich alone would still print bold).
    """
    stream = sys.stderr if stderr else sys.stdout
    terminal = stream.isatty()
    return Console(stderr=stderr, highlight=False, markup=False, soft_wrap=not terminal,
                   **({"color_system": None} if plain_wanted() else {}))


def page(console: Console, text: str) -> None:
    """Show rendered `text` through the learner's pager ($PAGER, else `less`); print it if there is none."""
    import shlex
    import subprocess

    command = shlex.split(os.environ.get("PAGER") or "less")
    env = dict(os.environ)
    # keep colours, quit at once if it fits, leave the text on screen, scroll long lines sideways (not wrapped)
    env.setdefault("LESS", "-FRXS")
    try:
        subprocess.run(command, input=text, text=True, env=env, check=False)
    except (FileNotFoundError, PermissionError):
        console.file.write(text)
        console.file.flush()


def stdin_is_interactive() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except ValueError:  # closed
        return False


def show_long(console: Console, renderables: list, *, pager: bool = True) -> None:
    """Print rich renderables; through the pager when `pager` and the output is a terminal. A line a
    renderable makes wider than the terminal (a code line) is printed whole, never cut."""
    if not (pager and console.is_terminal):
        for item in renderables:
            console.print(item, crop=False)
        return
    with console.capture() as captured:
        for item in renderables:
            console.print(item, crop=False)
    page(console, captured.get())


def print_hanging(console: Console, prefix: str, text: str, style: str = "") -> None:
    """`prefix` then `text`, wrapped to a terminal's width under itself (one line when piped)."""
    import textwrap

    from rich.text import Text

    indent = " " * len(prefix)
    if not console.is_terminal:
        console.print(Text(prefix + text.replace("\n", "\n" + indent), style=style), soft_wrap=True)
        return
    width = max(console.width - len(prefix), 20)
    lines = []
    for paragraph in text.splitlines() or [""]:
        lines.extend(textwrap.wrap(paragraph, width, break_long_words=False, break_on_hyphens=False) or [""])
    console.print(Text(prefix + ("\n" + indent).join(lines), style=style), soft_wrap=True)
