"""android_bench/host.py: the Android columns through the LiteRT Python interpreter."""

import importlib.metadata
import json
import os
import re
import subprocess

import pytest

from android_bench import host
from android_bench.rows import COLUMNS
from conftest import ROOT
from swiftformer_keras.lite.interpreter import cpu_name


def test_rows_have_sane_numbers_and_the_asked_run_counts(small_tflite):
    table = host.run_matrix([small_tflite], ["xnnpack", "none"], [1, 2], runs=7, warmup=2, progress=False)
    assert [(r["delegate"], r["threads"]) for r in table] == [("xnnpack", 1), ("xnnpack", 2), ("none", 1), ("none", 2)]
    for row in table:
        assert list(row) == list(COLUMNS) and row["status"] == "ok", row
        assert row["runs"] == 7 and row["source"] == "host-python" and row["model"] == "small.tflite"
        assert 0 < row["min_ms"] <= row["p5_ms"] <= row["median_ms"] <= row["p95_ms"] <= row["max_ms"]
        assert row["min_ms"] <= row["avg_ms"] <= row["max_ms"] and row["std_ms"] >= 0
        assert row["init_ms"] > 0 and row["first_ms"] > 0 and row["warmup_avg_ms"] > 0
        assert row["memory_mb"] >= 0 and row["total_nodes"] >= 3  # conv, mean, fully connected
        assert row["runtime"] == f"litert {importlib.metadata.version('ai-edge-litert')}"  # the automatic choice
    assert [r["partitions"] for r in table] == [1, 1, 0, 0]


def test_failures_are_rows(tmp_path, small_tflite):
    corrupt = tmp_path / "corrupt.tflite"
    corrupt.write_bytes(b"not a flatbuffer")
    missing, broken = host.run_matrix([str(tmp_path / "missing.tflite"), str(corrupt)], ["xnnpack"], [1], 3, 0, False)
    assert missing["status"] == "failed" and "does not exist" in missing["reason"]
    assert broken["status"] == "failed" and broken["reason"].startswith("exit code 1")
    slow = host.run_one(small_tflite, "xnnpack", 1, runs=10**7, warmup=0, timeout=3)
    assert slow["status"] == "failed" and slow["reason"] == "timed out after 3 s"


def test_cli_writes_the_tables_and_refuses_bad_arguments(tmp_path, small_tflite, capsys):
    out = tmp_path / "out"
    assert (
        host.main(
            ["--models", small_tflite, "--threads", "1", "--delegates", "none", "--runs", "3", "--output-dir", str(out)]
        )
        == 0
    )
    assert "| host-python |" in capsys.readouterr().out
    with open(out / "host.json") as file:
        (row,) = json.load(file)["rows"]
    assert row["runs"] == 3 and os.path.exists(out / "host.csv")
    # The results page: this machine, the command, and the row's own median; its chart beside it.
    page = (out / "host.md").read_text()
    assert cpu_name(count=True) in page and f"android_bench/host.py --models {small_tflite}" in page
    assert f"| {row['model']} | none | 1 | ok |" in page and f"| {row['median_ms']:.2f} |" in page
    assert (out / "host.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "![" in page
    for bad in (["--delegates", "gpu"], ["--threads", "0"], ["--threads", "two"], ["--runs", "0"]):
        with pytest.raises(SystemExit) as exit_info:
            host.main(["--models", small_tflite, *bad])
        assert exit_info.value.code == 2
    assert "unknown delegates ['gpu']" in capsys.readouterr().err


# --- issue 25: every flag checked before any run, in one line --------------------------------------


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--runs", "0"], "argument --runs: must be a whole number >= 1, got '0'"),
        (["--runs", "inf"], "argument --runs: must be a whole number >= 1, got 'inf'"),
        (["--warmup", "-1"], "argument --warmup: must be a whole number >= 0, got '-1'"),
        (["--threads", "2147483648"], "--threads must be positive integers up to 2147483647"),
        (["--delegates", ","], "unknown delegates []"),
        (["--modelz", "m.tflite"], "unrecognized arguments: --modelz m.tflite"),
    ],
)
def test_bad_flags_are_one_line_before_any_run(extra, message, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(host, "run_matrix", lambda *a, **k: pytest.fail("the runs started"))
    with pytest.raises(SystemExit) as exit_info:
        host.main(["--models", "m.tflite", "--output-dir", str(tmp_path / "out"), *extra])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1
    assert err.startswith("android_bench/host.py: error: ") and message in err and err.endswith("; see --help\n")
    assert not (tmp_path / "out").exists()


def test_the_library_checks_the_counts_too(small_tflite, monkeypatch):
    monkeypatch.setattr(host, "run_one", lambda *a, **k: pytest.fail("a run started"))
    for runs, warmup, threads, message in (
        (0, 0, [1], "runs must be a whole number >= 1, got 0"),
        (1, -1, [1], "warmup must be a whole number >= 0, got -1"),
        (1, 0, [2**31], "threads must be a whole number in [1, 2147483647]"),
    ):
        with pytest.raises(ValueError, match=re.escape(message)):
            host.run_matrix([small_tflite], ["none"], threads, runs, warmup, progress=False)


def test_an_output_that_is_an_input_is_refused_before_any_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(host, "run_matrix", lambda *a, **k: pytest.fail("the runs started"))
    model = tmp_path / "host.csv"
    model.write_bytes(b"TFL3")
    assert host.main(["--models", str(model), "--output-dir", str(tmp_path)]) == 2
    line = _error_line(capsys.readouterr().err)
    assert f"--output-dir's host.csv '{model}' is the input --models '{model}'" in line
    assert host.main(["--models", str(model), "--output-dir", str(model)]) == 2
    assert f"--output-dir '{model}' is the input --models" in _error_line(capsys.readouterr().err)
    assert model.read_bytes() == b"TFL3" and os.listdir(tmp_path) == ["host.csv"]


# --- issue 10: unwritable and full output folders ---------------------------------------------------


def _error_line(err):
    assert "Traceback" not in err, err
    (line,) = [line for line in err.splitlines() if line.startswith("android_bench/host.py: error:")]
    return line


def test_an_unwritable_output_dir_is_refused_before_any_run(small_tflite, read_only_dir, capsys):
    code = host.main(
        [
            "--models",
            small_tflite,
            "--threads",
            "1",
            "--delegates",
            "none",
            "--runs",
            "2",
            "--output-dir",
            str(read_only_dir),
        ]
    )
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert f"--output-dir '{read_only_dir}' is not writable" in _error_line(captured.err)


def test_a_full_output_dir_prints_the_table_then_one_line(small_tflite, full_disk, capsys):
    code = host.main(
        [
            "--models",
            small_tflite,
            "--threads",
            "1",
            "--delegates",
            "none",
            "--runs",
            "2",
            "--output-dir",
            str(full_disk),
        ]
    )
    captured = capsys.readouterr()
    assert code == 2 and "| host-python |" in captured.out
    assert "no space left on the device" in _error_line(captured.err)
    assert os.listdir(full_disk) == [".filler"]


# --- --runtime --------------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated")
def test_the_runtime_asked_for_runs_in_the_children_and_is_recorded(small_tflite):
    import tensorflow as tf

    table = host.run_matrix(
        [small_tflite], ["xnnpack", "none"], [1], runs=3, warmup=0, progress=False, runtime="tensorflow"
    )
    for row in table:
        assert row["status"] == "ok" and row["runtime"] == f"tensorflow {tf.__version__}", row
        assert row["total_nodes"] == 3 and 0 < row["median_ms"]
    assert [r["partitions"] for r in table] == [1, 0]
    missing = host.run_one(small_tflite + ".missing", "xnnpack", 1, 3, 0, runtime="litert")
    assert missing["status"] == "failed" and missing["runtime"].startswith("litert ")


def test_litert_compiled_rows_stand_beside_the_interpreter_s_and_say_what_it_cannot_tell(
    small_tflite, tmp_path, capsys
):
    out = tmp_path / "out"
    argv = ["--models", small_tflite, "--delegates", "xnnpack,none", "--runs", "3", "--warmup", "1"]
    assert host.main([*argv, "--threads", "1,2", "--runtime", "litert-compiled", "--output-dir", str(out)]) == 0
    printed = capsys.readouterr().out
    version = importlib.metadata.version("ai-edge-litert")
    assert f"| litert-compiled {version} |" in printed and host.NO_PARTITIONS in printed
    rows = json.loads((out / "host.json").read_text())["rows"]
    assert [(r["delegate"], r["threads"], r["status"]) for r in rows] == [
        ("xnnpack", 1, "ok"),
        ("xnnpack", 2, "ok"),
        ("none", 1, "ok"),
        ("none", 2, "failed"),  # its builtin kernels run on one thread: not timed as two
    ]
    assert all(row["runtime"] == f"litert-compiled {version}" for row in rows)
    for row in rows[:3]:
        assert 0 < row["median_ms"] and row["total_nodes"] == 3  # the file's ops, as the Interpreter counts them
    # XNNPACK's partitions are unknown (empty, and the reason says why); without it there are none.
    assert [(r["partitions"], r["reason"]) for r in rows[:3]] == [
        (None, host.NO_PARTITIONS),
        (None, host.NO_PARTITIONS),
        (0, None),
    ]
    assert "one thread, not num_threads=2" in rows[3]["reason"]


def test_an_unknown_runtime_fails_in_argparse(small_tflite, capsys):
    with pytest.raises(SystemExit) as exit_info:
        host.main(["--models", small_tflite, "--runtime", "nosuch"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "argument --runtime: invalid choice: 'nosuch'" in err and "tflite-runtime" in err


def test_a_runtime_this_python_lacks_is_one_line_before_any_run(small_tflite, tmp_path, capsys):
    code = host.main(["--models", small_tflite, "--runtime", "tflite-runtime", "--output-dir", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == "" and not (tmp_path / "out").exists()
    line = _error_line(captured.err)
    assert line.startswith("android_bench/host.py: error: tflite-runtime is not installed in this Python")
    assert "make .venv-tflite-runtime/.installed" in line and len(captured.err.strip().splitlines()) == 1


def test_host_py_under_the_tflite_runtime_env_records_tflite_runtime(small_tflite, tflite_runtime_python, tmp_path):
    out = tmp_path / "out"
    done = subprocess.run(
        [
            tflite_runtime_python,
            "android_bench/host.py",
            "--models",
            small_tflite,
            "--threads",
            "1",
            "--delegates",
            "xnnpack",
            "--runs",
            "3",
            "--warmup",
            "1",
            "--runtime",
            "tflite-runtime",
            "--output-dir",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": ROOT},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    (row,) = json.loads((out / "host.json").read_text())["rows"]
    assert row["status"] == "ok" and row["runtime"] == "tflite-runtime 2.14.0", row
    assert row["partitions"] == 1 and row["total_nodes"] == 3 and row["runs"] == 3
