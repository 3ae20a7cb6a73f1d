"""report.html in a real headless Chromium: opened from disk (file://, as when it is mailed), it shows one
bar per check with the class's pass rate, fetches nothing, fits a phone's width, and takes the reader to
a student's report in one click. Screenshots: test-artifacts/screenshots/gradebook.png (1280 wide) and
gradebook-390.png (390 wide)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from course.batch import run_batch
from course.gradebook import REPORT_FILE
from grader.manifest import load_chapter
from grader.variants import read_variant

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture(scope="module")
def gradebook(tmp_path_factory) -> Path:
    """A real `grade --batch` run: the solution, the starter and two known mistakes."""
    folder = tmp_path_factory.mktemp("class")
    solution = ROOT / "solutions" / "chapter-2" / "database.py"
    (folder / "ann.py").write_text(solution.read_text())
    (folder / "ben.py").write_text((ROOT / "starter" / "chapter-2" / "database.py").read_text())
    for student, name in (("cat", "depends-called"), ("dan", "cached-session")):
        variant = read_variant(ROOT / "chapters" / "chapter-2" / "mistakes" / f"{name}.diff")
        (folder / f"{student}.py").write_text(variant.apply({"database.py": solution.read_text()})["database.py"])
    out = tmp_path_factory.mktemp("gradebook")
    run_batch(load_chapter("chapter-2"), folder, out=out, jobs=2)
    return out


def expected_rates(gradebook: Path) -> dict[str, float]:
    """Each check's pass rate, counted from the gradebook's JSON lines."""
    reports = [json.loads(line) for line in (gradebook / "chapter-2.jsonl").read_text().splitlines()]
    passed: dict[str, int] = {}
    for report in reports:
        for check in report["checks"]:
            passed[check["id"]] = passed.get(check["id"], 0) + (check["status"] == "pass")
    return {check_id: count / len(reports) for check_id, count in passed.items()}


READ_BARS = """() => [...document.querySelectorAll('li.check')].map(li => {
    const track = li.querySelector('svg.rate rect.track').getBoundingClientRect();
    const bar = li.querySelector('svg.rate rect.bar').getBoundingClientRect();
    return {id: li.dataset.check, pct: li.querySelector('.pct').textContent.trim(),
            label: li.querySelector('.label').innerText, fill: bar.width / track.width, visible: track.width > 50};
})"""


def test_one_bar_per_check_with_the_class_pass_rate(chromium, gradebook, screenshot):
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto((gradebook / REPORT_FILE).as_uri())
    bars = page.evaluate(READ_BARS)
    rates = expected_rates(gradebook)
    chapter = load_chapter("chapter-2")
    assert [b["id"] for b in bars] == ["files", *(c.id for c in chapter.checks)]
    for bar in bars:
        rate = rates[bar["id"]]
        assert bar["pct"] == f"{100 * rate:.0f}%", bar
        assert bar["fill"] == pytest.approx(rate, abs=0.01), bar
        assert bar["visible"], bar
    titles = {c.id: (c.title, c.task) for c in chapter.checks}
    for bar in bars[1:]:
        title, task = titles[bar["id"]]
        assert title.replace("`", "") in bar["label"]
        assert (f"step {task}" if task else "all steps") in bar["label"]
    assert page.locator("svg.histogram g.bin").count() == 12  # scores 0..11
    assert {u.split(":")[0] for u in requests} == {"file"}  # nothing fetched from anywhere
    screenshot(page, "gradebook", full_page=True)
    page.close()


def test_a_student_is_one_click_away_and_the_page_fits_a_phone(chromium, gradebook, screenshot):
    page = chromium.new_page(viewport={"width": 390, "height": 844})
    page.goto((gradebook / REPORT_FILE).as_uri())
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
    page.get_by_role("link", name="cat", exact=True).first.click()
    assert page.url.endswith("#chapter-2-s2")
    card = page.locator("#chapter-2-s2")
    assert "8/11" in card.locator("h3").inner_text()
    assert "give it the function itself" in card.inner_text()
    box = card.locator("h3").bounding_box()
    assert box is not None and 0 <= box["y"] < 844 - box["height"]  # scrolled into view
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "gradebook-390")
    page.close()
