"""The gradebook as a page (`course.serve.gradebook`): report.html, written by a real `grade --batch` run
over a small class (the solution, the starter, two known mistakes, a flagged submission, an unusable
upload, and students whose folder name, output and error message are HTML), and the pages
`course serve --gradebook` serves from the same folder."""

from __future__ import annotations

import json
import re
import shutil
import zipfile
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conftest import ROOT
from course.batch import run_batch
from course.gradebook import REPORT_FILE
from course.serve.gradebook import (UnknownStudent, instruction_steps, render_report, render_student, score_bins,
                                    write_report)
from course.serve.svg import Bin
from grader.engine import unable_to_grade
from grader.manifest import load_chapter
from grader.report import Report
from grader.submission import Submission
from grader.variants import read_variant
from variants import mistake, source

SOLUTION = (ROOT / "solutions" / "chapter-2" / "database.py").read_text()
HOSTILE_OUTPUT = '<script>alert("output")</script>'
HOSTILE_CODE = "</script><script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"


def put(folder: Path, student: str, text: str) -> None:
    (folder / student).mkdir()
    (folder / student / "database.py").write_text(text)


@pytest.fixture(scope="module")
def gradebook(tmp_path_factory) -> Path:
    """A class graded by `grade --batch`'s own code: its gradebook folder."""
    folder = tmp_path_factory.mktemp("class")
    (folder / "ann.py").write_text(SOLUTION)
    shutil.copy(ROOT / "starter" / "chapter-2" / "database.py", folder / "ben.py")
    (folder / "cat.py").write_text(source(mistake("chapter-2", "depends-called"), "database.py"))
    (folder / "dan.py").write_text(source(mistake("chapter-2", "cached-session"), "database.py"))
    (folder / "eve.py").write_text(source(read_variant(ROOT / "tests" / "tampering" / "chapter-2" /
                                                       "frames_getframe.diff"), "database.py"))
    put(folder, "<script>", SOLUTION + f"\nprint({HOSTILE_OUTPUT!r})\n")
    put(folder, IMG, SOLUTION + f"\n{HOSTILE_CODE}\n")
    with zipfile.ZipFile(folder / "zed.zip", "w") as zf:
        zf.writestr("../../outside.py", "x = 1\n")
    (folder / "README.txt").write_text("not a submission")
    out = tmp_path_factory.mktemp("gradebook")
    run_batch(load_chapter("chapter-2"), folder, out=out, jobs=2)
    return out


@pytest.fixture(scope="module")
def reports(gradebook) -> dict[str, Report]:
    rows = [json.loads(line) for line in (gradebook / "chapter-2.jsonl").read_text().splitlines()]
    return {row.pop("student"): Report.model_validate(row) for row in rows}


@pytest.fixture(scope="module")
def page(gradebook) -> str:
    return (gradebook / REPORT_FILE).read_text(encoding="utf-8")


def check_rows(page: str) -> dict[str, str]:
    """The pass-rate row of each check, by check id."""
    return dict(re.findall(r'<li class="check" data-check="([^"]+)".*?>(.*?)</li>', page, re.S))


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, list[tuple[str, str]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, [(name, value or "") for name, value in attrs]))


def elements(html: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """Every element of a page, as a browser's parser opens it: (tag, attributes)."""
    parser = _Elements()
    parser.feed(html)
    return parser.found


def text(html: str) -> str:
    """What a reader sees of some HTML: tags dropped, entities decoded, spaces collapsed."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def test_grade_batch_writes_report_html_beside_the_gradebook(gradebook, page):
    assert sorted(p.name for p in gradebook.iterdir()) == [
        "chapter-2-summary.txt", "chapter-2.csv", "chapter-2.jsonl", REPORT_FILE]
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert "<style>" in page  # standalone: inline CSS, nothing fetched, no script
    tags = elements(page)
    assert not {"script", "link", "img", "iframe", "object"} & {tag for tag, _ in tags}
    assert not [(tag, name) for tag, attrs in tags for name, value in attrs
                if name == "src" or name.startswith("on") or (name == "href" and not value.startswith("#"))]
    assert "url(" not in page


def test_the_histogram_has_one_bin_per_whole_score(page, reports):
    bins = [(label, int(count)) for label, count in re.findall(r'<g class="bin" data-label="([^"]+)" '
                                                               r'data-count="(\d+)">', page)]
    assert [label for label, _ in bins] == [str(n) for n in range(12)]  # 0..11 points
    expected = {str(n): sum(r.score == n for r in reports.values()) for n in range(12)}
    assert dict(bins) == expected
    assert (expected["11"], expected["1"], expected["0"]) == (3, 1, 2)  # ann, eve, <script>; ben; the two unusable
    assert "Score histogram: 8 students, scores out of 11" in page


def test_score_bins_are_ten_equal_ranges_when_scores_are_not_few_whole_numbers():
    assert score_bins([0, 2, 2, 3], 3) == [Bin("0", 1), Bin("1", 0), Bin("2", 2), Bin("3", 1)]
    bins = score_bins([0, 2.5, 9.9, 10, 25], 25)
    assert [b.label for b in bins][:3] == ["0–2.5", "2.5–5", "5–7.5"] and bins[-1].label == "22.5–25"
    assert [b.count for b in bins] == [1, 1, 0, 1, 1, 0, 0, 0, 0, 1]  # 10 falls in 10–12.5; 25 in the last


def test_one_bar_per_check_with_its_pass_rate_as_text_and_as_length(page, reports):
    rows = check_rows(page)
    chapter = load_chapter("chapter-2")
    assert list(rows) == ["files", *(c.id for c in chapter.checks)]
    for check_id, row in rows.items():
        passed = sum(next(c for c in r.checks if c.id == check_id).status == "pass" for r in reports.values())
        rate = passed / len(reports)
        assert f'<span class="pct">{100 * rate:.0f}%</span>' in row, check_id
        assert f"{passed}/{len(reports)} passed" in row, check_id
        (width,) = re.findall(r'<rect class="bar" width="([\d.]+)"', row)
        assert float(width) == pytest.approx(100 * rate, abs=0.01), check_id
        assert re.search(rf"<title>[^<]*: {passed} of {len(reports)} passed \({100 * rate:.0f}%\)</title>", row)
    imports = rows["imports"]
    assert "step 1" in imports and "Session, Annotated and Depends are imported" in imports
    assert "all steps" in rows["module-imports"]  # a check the manifest ties to no step


def test_the_steps_of_the_lesson_and_the_one_the_class_struggles_with(page, reports):
    steps = dict(re.findall(r'<li data-step="(\d)">(.*?)</li>', page, re.S))
    assert sorted(steps) == ["1", "2", "3"]  # step 4 (run the grader) has no check
    step3 = load_chapter("chapter-2").checks
    ids3 = [c.id for c in step3 if c.task == 3]
    through = sum(all(c.status == "pass" for c in r.checks if c.id in ids3) for r in reports.values())
    assert f"Step 3: {through}/8" in text(steps["3"])
    assert "In database.py , add Session to the import from sqlmodel ." in text(steps["1"])
    assert "The class struggles most with step" in page


def test_flags_errors_and_unusable_uploads_come_first(gradebook, reports, tmp_path):
    folder = tmp_path / "book"
    shutil.copytree(gradebook, folder)
    chapter = load_chapter("chapter-2")
    broken = unable_to_grade(chapter, Submission(origin=tmp_path, folder=tmp_path, edited={}, files={}),
                             "the grader failed on this submission: OSError: disk full", grader_fault=True)
    with (folder / "chapter-2.jsonl").open("a") as jsonl:
        jsonl.write(json.dumps({"student": "fay", **broken.model_dump(mode="json")}) + "\n")
    page = (write_report(folder)).read_text()
    panel = page.index("Look at these first")
    assert panel < page.index('class="histogram"') < page.index('data-check="files"')
    kinds = re.findall(r'<li data-kind="(\w+)">.*?<a href="[^"]+">([^<]+)</a>', page, re.S)
    assert kinds == [("flagged", "eve"), ("error", "fay"), ("unusable", "zed")]
    assert "reads the test harness&#39;s frames" in page and "OSError: disk full" in page
    assert "unsafe path" in page
    assert "Not submissions (ignored): README.txt" in page  # from the summary: no report holds it


def test_each_student_is_linked_to_their_report_on_the_page(page, reports):
    students = list(reports)
    for number, student in enumerate(students):
        anchor = f"chapter-2-s{number}"
        shown = student.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&#34;")
        assert f'<a href="#{anchor}">{shown}</a>' in page, student
        card = page.split(f'<section class="card" id="{anchor}"')[1].split("</section>")[0]
        assert f'<span class="who">{shown}</span>' in card
        assert f"{reports[student].score:g}/11" in card
    cat = page.split('<span class="who">cat</span>')[1].split("</section>")[0]
    assert "database.py:24: <code>SessionDep</code>: <code>Depends</code> is given <code>get_session()</code>" in cat
    assert "hint: FastAPI calls the dependency itself" in cat  # check_text: place, message, hint


def test_the_students_table_shows_the_check_that_stopped_each_one(page, reports):
    rows = dict(re.findall(r'<tr data-student="([^"]+)">(.*?)</tr>', page, re.S))
    assert len(rows) == len(reports)
    assert "—" in rows["ann"] and "flagged" in rows["eve"]
    dan = text(rows["dan"])
    assert "9/11 ✗ failed" in dan and "The yield sits inside with Session(engine) as session: (step 2)" in dan
    assert dan.endswith("…") and "`" not in dan  # a long message, cut at a word, no backtick left open
    assert "zed.zip holds an unsafe path" in text(rows["zed"])


def test_served_pages_link_each_student_where_the_server_says(gradebook, reports):
    page = render_report(gradebook, student_href=lambda s: f"/students/{len(s)}")
    for student in reports:
        assert f'<a href="/students/{len(student)}">' in page
    assert 'class="card"' not in page  # the reports are pages of their own
    one = render_student(gradebook, "dan")
    assert "both requests received the same session object" in one and '<a href="../">' in one
    assert text(one).count("dan 9/11") == 1
    with pytest.raises(UnknownStudent):
        render_student(gradebook, "nobody")


def test_what_students_shaped_is_escaped(gradebook, page, reports):
    assert {"<script>", IMG} <= set(reports)
    assert reports["<script>"].status == "pass" and HOSTILE_OUTPUT in "".join(c.output for c in reports["<script>"].checks)
    assert HOSTILE_CODE in reports[IMG].checks[0].message
    for html in (page, render_report(gradebook, student_href=lambda s: "/x"), render_student(gradebook, "<script>"),
                 render_student(gradebook, IMG)):
        assert "<script" not in html and "<img" not in html
        assert {tag for tag, _ in elements(html)} <= {"html", "head", "meta", "title", "style", "body", "main", "h1", "h2",
                                                      "h3", "p", "a", "span", "section", "nav", "ol", "ul", "li", "div",
                                                      "code", "pre", "details", "summary", "strong", "svg", "desc",
                                                      "g", "rect", "text", "line", "table", "thead", "tbody", "tr",
                                                      "th", "td"}
    assert "&lt;script&gt;" in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in page  # the syntax error, as text
    assert "&lt;script&gt;alert(&#34;output&#34;)&lt;/script&gt;" in page  # the captured output, as text


def test_report_html_follows_the_umask_and_leaves_no_temp_file(gradebook, tmp_path):
    import os

    folder = tmp_path / "book"
    shutil.copytree(gradebook, folder)
    before = os.umask(0o027)
    try:
        path = write_report(folder)
    finally:
        os.umask(before)
    assert path == folder / REPORT_FILE and path.stat().st_mode & 0o777 == 0o640
    assert not list(folder.glob(".*.tmp"))


def test_a_batch_killed_before_it_finished_shows_what_its_journal_holds(gradebook, page, reports, tmp_path):
    assert "has not finished" not in page  # the batch wrote report.html after its journal was gone
    folder = tmp_path / "book"
    shutil.copytree(gradebook, folder)
    (folder / "chapter-2.jsonl.partial").write_text(json.dumps({"student": "gus", **reports["ann"].model_dump(mode="json")})
                                                    + "\n" + '{"student": "half-writ')
    killed = render_report(folder)
    assert "A batch for chapter-2 has not finished (it is running, or it was killed)" in killed
    assert '<a href="#chapter-2-s7">gus</a>' in killed and "9 submissions" in killed


def test_a_folder_without_a_gradebook_says_so(tmp_path):
    assert "This folder holds no gradebook" in render_report(tmp_path)


def test_instruction_steps_are_read_from_the_lesson():
    lesson = "# T\n\n## Instructions\n\n1. Do `a`. Then more.\n   Still step one.\n2. Do b\n\n## After\n3. no\n"
    assert instruction_steps(lesson) == ["Do `a`.", "Do b"]
    assert instruction_steps("# T\n\nno steps\n") == []


def test_every_chapter_graded_into_the_folder_has_its_section(gradebook, reports, tmp_path):
    """A folder may hold several chapters' gradebooks; one this course has no lesson for shows step numbers only."""
    folder = tmp_path / "book"
    shutil.copytree(gradebook, folder)
    shutil.copy(folder / "chapter-2.jsonl", folder / "chapter-10.jsonl")
    page = render_report(folder)
    assert [m for m in re.findall(r'<section class="book" id="([^"]+)"', page)] == ["chapter-2", "chapter-10"]
    assert '<a href="#chapter-10-s3">ben</a>' in page and '<a href="#chapter-2-s3">ben</a>' in page
    later = page.split('id="chapter-10"')[1]
    assert "Step 1: " in text(later) and "add Session to the import" not in text(later)
    one = render_student(folder, "ben")
    assert re.findall(r'<h2 id="(chapter-\d+)">', one) == ["chapter-2", "chapter-10"]
