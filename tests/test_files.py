"""Atomic writes: a failed write leaves no file behind and keeps the old one."""

import csv
import json
import os

import numpy as np
import pytest

from swiftformer_keras import files


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "out.json"
    path.write_text("old")

    def fail(temp):
        with open(temp, "w") as file:
            file.write("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        files.write_atomically(str(path), fail)
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["out.json"]


def test_json_takes_numpy_scalars_and_is_replaced_whole(tmp_path):
    path = tmp_path / "report.json"
    files.write_json_atomically(path, {"top1": np.float32(0.875), "count": 3})
    assert json.loads(path.read_text()) == {"top1": 0.875, "count": 3}
    with pytest.raises(TypeError):
        files.write_json_atomically(path, {"bad": object()})
    assert json.loads(path.read_text())["count"] == 3 and os.listdir(tmp_path) == ["report.json"]


def test_csv_columns_are_every_key_in_first_seen_order(tmp_path):
    path = files.write_csv_atomically(tmp_path / "rows.csv", [{"a": 1, "b": 2}, {"a": 3, "c": 4}])
    with open(path, newline="") as file:
        assert list(csv.reader(file)) == [["a", "b", "c"], ["1", "2", ""], ["3", "", "4"]]
    files.write_csv_atomically(path, [{"a": 1, "b": 2}], columns=["b", "a"])
    assert open(path).read().splitlines() == ["b,a", "2,1"]
