"""JUnit XML: one `testsuite` per report, one `testcase` per check (for CI test reporters)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from grader.render import check_text
from grader.report import Report

# Characters XML 1.0 cannot hold at all (learner output may contain them).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def clean(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def to_junit(report: Report) -> str:
    counts = report.counts()
    totals = {"tests": str(len(report.checks)), "failures": str(counts["fail"]), "errors": str(counts["error"]),
              "skipped": str(counts["skip"]), "time": f"{report.duration:.3f}"}
    suites = ET.Element("testsuites", name=report.chapter, **totals)
    suite = ET.SubElement(suites, "testsuite", name=clean(f"{report.chapter}: {report.title}"), **totals)
    properties = ET.SubElement(suite, "properties")
    for name in ("score", "max_score", "grader_version", "checks_hash", "submission_hash"):
        ET.SubElement(properties, "property", name=name, value=clean(f"{getattr(report, name)}"))
    if report.integrity:
        ET.SubElement(properties, "property", name="integrity", value=clean(report.flagged()))
    for check in report.checks:
        case = ET.SubElement(suite, "testcase", classname=f"{report.chapter}.{check.kind}",
                             name=clean(f"{check.id}: {check.title}"), time=f"{check.duration:.3f}")
        if check.status != "pass":
            tag = {"fail": "failure", "error": "error", "skip": "skipped"}[check.status]
            text = clean(check_text(check))
            element = ET.SubElement(case, tag, message=clean(check.message.splitlines()[0] if check.message else ""))
            if check.status != "skip":
                element.set("type", check.diagnosis or check.status)
                element.text = text
        if check.output:
            ET.SubElement(case, "system-out").text = clean(check.output)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
