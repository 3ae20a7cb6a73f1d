"""`course serve` in a real browser: page load, and save-to-update latency of the live checklist.

Starts `course serve --no-open` on a temporary workspace, opens the chapter page in headless
Chromium (Debian's, through Playwright), then:
- first open: from navigation to the first grade's checklist on the page (starts the warm worker);
- page load: Navigation Timing's `loadEventEnd` of reloads (the lesson rendered, the last grade);
- save to update: writes the chapter's file (a passing and a failing version in turn, as
  bench/watch_latency.py) and takes the browser's clock when the checklist shows the new result
  (a MutationObserver in the page), against the clock at the write.

    python bench/serve_latency.py [--chapter chapter-2 --chapter chapter-3] [--saves 10] [--loads 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from watch_latency import edit  # noqa: E402  (the same passing and failing versions as the watch figure)

COURSE = [sys.executable, "-c", "from course.cli import main; main()"]
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
WATCH = """(expected) => new Promise((resolve) => {
  const box = document.getElementById("checklist");
  const done = () => box.querySelector(".status-" + expected) && !box.querySelector(".busy");
  new MutationObserver((_, observer) => {
    if (done()) { observer.disconnect(); resolve(Date.now()); }
  }).observe(box, {childList: true, subtree: true});
})"""


def start(workspace: Path) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "COURSE_WORKSPACE": str(workspace), "NO_COLOR": "1"}
    server = subprocess.Popen([*COURSE, "serve", "--no-open"], stdout=subprocess.PIPE, text=True, env=env)
    first = server.stdout.readline() if server.stdout else ""
    if " at http" not in first:
        server.kill()
        raise SystemExit(f"course serve did not start: {first!r}")
    return server, first.split(" at ", 1)[1].strip()


def measure(page, url: str, chapter: str, saves: int, loads: int) -> dict[str, object]:
    base = url.split("/?", 1)[0]
    page.goto(url)
    started = time.time()
    page.goto(f"{base}/chapters/{chapter}")
    page.wait_for_selector("#checklist li.check", timeout=120_000)
    first_open = time.time() - started
    load_ms = []
    for _ in range(loads):
        page.reload()
        page.wait_for_load_state("load")
        load_ms.append(page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd"))
    page.wait_for_selector("#checklist li.check", timeout=60_000)
    change = edit(chapter)
    target = Path(os.environ["COURSE_WORKSPACE"]) / chapter / change.name
    update_ms = []
    for n in range(saves):
        good = n % 2 == 0
        expected = "pass" if good else "fail"
        page.evaluate(f"(expected) => {{ window.shownAt = ({WATCH})(expected); }}", expected)
        time.sleep(0.3)  # the observer is installed; the previous grade is on the page
        wrote = time.time() * 1000
        target.write_text(change.good if good else change.bad)
        shown = page.evaluate("window.shownAt")  # waits for the promise
        update_ms.append(shown - wrote)
        time.sleep(0.2)
    return {"first_open_s": first_open, "load_ms": load_ms, "update_ms": update_ms}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chapter", action="append", default=None)
    parser.add_argument("--saves", type=int, default=10)
    parser.add_argument("--loads", type=int, default=10)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for chapter in args.chapter or ["chapter-2", "chapter-3"]:
        with tempfile.TemporaryDirectory() as folder, sync_playwright() as playwright:
            workspace = Path(folder) / "workspace"
            os.environ["COURSE_WORKSPACE"] = str(workspace)
            server, url = start(workspace)
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
            try:
                got = measure(browser.new_page(), url, chapter, args.saves, args.loads)
            finally:
                browser.close()
                server.terminate()
                server.wait(timeout=30)
        loads, updates = got["load_ms"], got["update_ms"]
        print(f"{chapter}: first open to checklist {got['first_open_s']:.2f} s; "
              f"page load median {statistics.median(loads):.0f} ms (min {min(loads):.0f}, max {max(loads):.0f}); "
              f"save to update median {statistics.median(updates):.0f} ms "
              f"(min {min(updates):.0f}, max {max(updates):.0f}, {len(updates)} saves)")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
