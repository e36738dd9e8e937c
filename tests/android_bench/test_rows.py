"""The shared benchmark table: every column in every row, and what is written is what was measured."""

import csv
import json

import pytest

from android_bench import rows


def test_rows_have_every_column_and_refuse_unknown_ones():
    row = rows.make_row(model="xs.tflite", delegate="xnnpack", threads=2, status="ok", median_ms=3.0)
    assert list(row) == list(rows.COLUMNS) and row["soc"] is None
    with pytest.raises(ValueError, match=r"Unknown benchmark columns \['latency'\]"):
        rows.make_row(latency=3.0)
    assert rows.failed_row("adb is not installed", model="xs.tflite")["status"] == "failed"


def test_markdown_shows_the_filled_columns_only_numbers_right_aligned():
    table = rows.markdown([rows.make_row(model="a|b.tflite", status="ok", median_ms=2.345)])
    assert table.splitlines() == ["| model | status | median_ms |", "|---|---|---:|", "| a\\|b.tflite | ok | 2.35 |"]


def test_csv_and_json_hold_the_rows(tmp_path):
    measured = [
        {"model": "xs.tflite", "status": "ok", "median_ms": 3.25, "threads": 2},
        {"model": "s.tflite", "status": "failed", "reason": "no device"},
    ]
    rows.write_csv(measured, tmp_path / "rows.csv")
    with open(tmp_path / "rows.csv", newline="") as file:
        read = list(csv.DictReader(file))
    assert list(read[0]) == list(rows.COLUMNS)
    assert (read[0]["median_ms"], read[0]["threads"], read[1]["reason"]) == ("3.25", "2", "no device")
    rows.write_json(measured, tmp_path / "rows.json", command="run.py")
    saved = json.loads((tmp_path / "rows.json").read_text())
    assert saved["command"] == "run.py" and saved["rows"][0]["median_ms"] == 3.25 and len(saved["rows"]) == 2
