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
    rows.write_result(tmp_path, "rows", measured, "T", "run.py", "here")
    with open(tmp_path / "rows.csv", newline="") as file:
        read = list(csv.DictReader(file))
    assert list(read[0]) == list(rows.COLUMNS)
    assert (read[0]["median_ms"], read[0]["threads"], read[1]["reason"]) == ("3.25", "2", "no device")
    saved = json.loads((tmp_path / "rows.json").read_text())
    assert saved["command"] == "run.py" and saved["rows"][0]["median_ms"] == 3.25 and len(saved["rows"]) == 2


def test_the_page_names_the_device_only_where_rows_differ_in_it():
    one = [rows.make_row(device_model="Pixel 8", model="a.tflite", status="ok", median_ms=2.0)] * 2
    two = [*one, rows.make_row(device_model="Pixel 6", model="a.tflite", status="ok", median_ms=3.0)]
    assert rows.page_columns(one) == ["model", "status", "median_ms"]
    assert rows.page_columns(two) == ["device_model", "model", "status", "median_ms"]


def test_write_result_is_the_page_the_csv_the_json_and_a_chart_of_the_measured(tmp_path):
    measured = [
        {"device": "a", "model": "xs.tflite", "delegate": "xnnpack", "threads": 1, "status": "ok", "median_ms": 3.25},
        {"device": "a", "model": "xs.tflite", "delegate": "gpu", "threads": 1, "status": "failed", "reason": "no GPU"},
    ]
    written = rows.write_result(tmp_path, "host", measured, "Title", "python x.py", "here", settings={"runs": 5})
    assert [p.rsplit(".", 1)[1] for p in written] == ["json", "csv", "png", "md"]
    saved = json.loads((tmp_path / "host.json").read_text())
    assert saved["settings"] == {"runs": 5} and saved["rows"][0]["median_ms"] == 3.25
    page = (tmp_path / "host.md").read_text()
    assert "| xs.tflite | xnnpack | 1 | ok |  | 3.25 |" in page and "| failed | no GPU |" in page
    (tmp_path / "none").mkdir()
    nothing = rows.write_result(tmp_path / "none", "rows", measured[1:], "T", "c", "here")
    assert [p.rsplit(".", 1)[1] for p in nothing] == ["json", "csv", "md"]  # no chart of nothing
