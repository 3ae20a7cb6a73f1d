"""Reading the record pipe: only the harness's own records count, and nothing written there can
crash the reader, blow up its memory or push the harness's records out."""

from __future__ import annotations

import json

from grader.sandbox.records import LINE_CAP, RECORDS_CAP, STACK_CAP, RecordReader

KEY = "k" * 32


def line(record: dict, key: str | None = KEY) -> bytes:
    return (json.dumps(record if key is None else {**record, "key": key}) + "\n").encode()


def read(*chunks: bytes) -> list[dict]:
    reader = RecordReader(KEY)
    for chunk in chunks:
        reader.feed(chunk)
    return reader.records()


def test_records_with_the_key_count_and_others_are_dropped():
    records = read(line({"type": "start", "id": "a"}), line({"type": "result", "id": "a", "status": "pass"}, None),
                   line({"type": "done"}, "forged"))
    assert records == [{"type": "start", "id": "a", "key": KEY}]


def test_a_record_split_across_reads_is_put_back_together():
    data = line({"type": "result", "id": "a", "status": "fail", "message": "x" * 70_000})
    records = read(*(data[i:i + 4096] for i in range(0, len(data), 4096)))
    assert [r["message"] for r in records] == ["x" * 70_000]


def test_malformed_and_hostile_lines_are_dropped_and_reading_goes_on():
    reader = RecordReader(KEY)
    assert not reader.started
    reader.feed(b"[" * 200_000 + b"\n")                                    # nesting bomb
    reader.feed(b'{"type": "done", "key": "' + KEY.encode() + b'", "x": ' + b"[" * 100_000 + b"\n")
    reader.feed(line({"type": "result", "id": "a", "status": "pass", "nested": {"status": "pass"}}))
    reader.feed(b'{"type": "result", "id": "a", "status": "pass", "key": "' + KEY.encode() + b'", "n": '
                + b"9" * 10_000 + b"}\n")                                  # a number too long to convert
    reader.feed(b"{not json}\n" + b"\xff\xfe{\n" + b"\n\n")
    assert not reader.started
    reader.feed(line({"type": "done"}))
    records = reader.records()
    assert reader.started and records[0] == {"type": "done", "key": KEY}
    assert [r["type"] for r in records[1:]] == ["stack"] and len(records[1]["text"]) <= STACK_CAP  # text, kept as such


def test_an_endless_line_is_dropped_without_being_kept_whole():
    reader = RecordReader(KEY)
    for _ in range(200):  # 12.8 MB without a newline
        reader.feed(b'{"type": "done", "key": "' + KEY.encode() + b'"' + b" " * 65_000)
    assert len(reader._line) <= LINE_CAP + 1
    reader.feed(b"}\n" + line({"type": "start", "id": "a"}))
    assert reader.records() == [{"type": "start", "id": "a", "key": KEY}]


def test_the_records_kept_are_capped_in_total():
    big = line({"type": "result", "id": "a", "status": "pass", "output": "y" * 200_000})
    records = read(*(big for _ in range(RECORDS_CAP // len(big) + 5)))
    assert sum(len(json.dumps(r)) for r in records) <= RECORDS_CAP
    assert len(records) == RECORDS_CAP // len(big)


def test_other_lines_are_the_stack_dump_and_only_its_end_is_kept():
    dump = b"Timeout (0:00:02)!\n" + b'  File "/box/work/database.py", line 28 in <module>\n' * 1000
    records = read(line({"type": "start", "id": "a"}), dump)
    assert records[0]["type"] == "start"
    assert records[-1]["type"] == "stack" and len(records[-1]["text"]) <= STACK_CAP
    assert records[-1]["text"].endswith('line 28 in <module>')


def test_a_last_line_without_a_newline_still_counts():
    assert read(line({"type": "done"})[:-1]) == [{"type": "done", "key": KEY}]
