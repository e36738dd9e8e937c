"""android_bench/run.py, the command line: every outcome ends in rows.csv / rows.json and the
Markdown table (no phone, adb missing, host runs, fake phones); bad arguments and output folders
that cannot be written exit with 2. The fake benchmark_model and adb come from test_matrix.py."""

import csv
import json
import os
import subprocess
import sys

import pytest
import test_matrix

from android_bench import benchmark_model, run
from conftest import ROOT

# test_matrix.py's fake phones, adb and benchmark_model, as fixtures of this module too.
fake_adb, fake_benchmark, models = test_matrix.fake_adb, test_matrix.fake_benchmark, test_matrix.models
real_adb_without_phone = test_matrix.real_adb_without_phone


def _main(args, capsys):
    code = run.main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _written_rows(folder):
    """rows.json, after checking that rows.csv and the results page rows.md hold the same rows, and
    that the chart rows.png is there exactly when some row was measured."""
    with open(os.path.join(folder, "rows.json")) as file:
        written = json.load(file)
    with open(os.path.join(folder, "rows.csv")) as file:
        assert len(list(csv.DictReader(file))) == len(written["rows"])
    with open(os.path.join(folder, "rows.md")) as file:
        page = file.read()
    assert page.startswith("# ") and f"```bash\n{written['command']}\n```" in page
    table = [line for line in page.splitlines() if line.startswith("| ")]
    assert len(table) == 1 + len(written["rows"])  # the header, then a line per row
    measured = [row for row in written["rows"] if row["median_ms"] is not None]
    for row, line in zip(written["rows"], table[1:], strict=True):
        assert f"| {row['model']} |" in line and (row["median_ms"] is None or f"| {row['median_ms']:.2f} |" in line)
    chart = os.path.join(folder, "rows.png")
    assert os.path.exists(chart) == bool(measured)
    if measured:
        with open(chart, "rb") as file:
            assert file.read(8) == b"\x89PNG\r\n\x1a\n"
    return written


def _error_lines(err, prog="android_bench/run.py"):
    assert "Traceback" not in err, err
    return [line for line in err.splitlines() if line.startswith(f"{prog}: error:")]


# --- no phone, adb missing ---------------------------------------------------------------------


def test_real_adb_without_a_device_gives_a_failed_row_per_cell(
    real_adb_without_phone, models, fake_benchmark, tmp_path, capsys
):
    out = tmp_path / "out"
    code, printed, _ = _main(
        [
            "--models",
            *models,
            "--binary",
            fake_benchmark,
            "--delegates",
            "xnnpack,cpu",
            "--threads",
            "1,4",
            "--adb",
            real_adb_without_phone,
            "--output-dir",
            str(out),
        ],
        capsys,
    )
    assert code == 0
    written = _written_rows(out)
    assert len(written["rows"]) == 2 * 2 * 2  # one per (model, delegate, threads)
    for row in written["rows"]:
        assert row["status"] == "failed" and row["source"] == "android" and row["device"] is None
        assert "no Android device" in row["reason"]
    assert {(r["model"], r["delegate"], r["threads"]) for r in written["rows"]} == {
        (os.path.basename(m), d, t) for m in models for d in ("xnnpack", "cpu") for t in (1, 4)
    }
    assert printed.startswith("| source |") and "no Android device" in printed
    assert written["devices"] == []


def test_adb_path_that_does_not_exist(models, fake_benchmark, tmp_path, capsys):
    out = tmp_path / "out"
    code, printed, _ = _main(
        [
            "--models",
            *models,
            "--binary",
            fake_benchmark,
            "--delegates",
            "gpu",
            "--threads",
            "2",
            "--adb",
            "/nonexistent/adb",
            "--output-dir",
            str(out),
        ],
        capsys,
    )
    assert code == 0
    rows = _written_rows(out)["rows"]
    assert len(rows) == 2
    assert all(r["status"] == "failed" and r["reason"] == "adb not found at /nonexistent/adb" for r in rows)
    assert "/nonexistent/adb" in printed


def test_adb_not_on_an_empty_path(models, fake_benchmark, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", "")
    out = tmp_path / "out"
    code, _, _ = _main(
        [
            "--models",
            models[0],
            "--binary",
            fake_benchmark,
            "--delegates",
            "xnnpack,nnapi",
            "--threads",
            "1",
            "--output-dir",
            str(out),
        ],
        capsys,
    )
    assert code == 0
    rows = _written_rows(out)["rows"]
    assert len(rows) == 2
    assert all("adb not found" in r["reason"] and "PATH" in r["reason"] for r in rows)


# --- host runs ---------------------------------------------------------------------------------


def test_host_with_a_missing_binary(models, tmp_path, capsys):
    out = tmp_path / "out"
    code, _, _ = _main(
        [
            "--host",
            "--models",
            *models,
            "--binary",
            str(tmp_path / "nope"),
            "--delegates",
            "xnnpack,cpu",
            "--threads",
            "1",
            "--output-dir",
            str(out),
        ],
        capsys,
    )
    assert code == 0
    rows = _written_rows(out)["rows"]
    assert len(rows) == 4
    assert all(r["source"] == "host-binary" and "binary not found" in r["reason"] for r in rows)


def test_host_runs_the_fake_benchmark_model(models, fake_benchmark, tmp_path, monkeypatch, capsys):
    calls = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_BENCH_LOG", str(calls))
    out = tmp_path / "out"
    code, printed, _ = _main(
        [
            "--host",
            "--models",
            *models,
            "--binary",
            fake_benchmark,
            "--delegates",
            "xnnpack,cpu,nnapi,gpu",
            "--threads",
            "1,4",
            "--num-runs",
            "20",
            "--warmup-runs",
            "3",
            "--timeout",
            "60",
            "--output-dir",
            str(out),
        ],
        capsys,
    )
    assert code == 0
    written = _written_rows(out)
    rows = {(r["model"], r["delegate"], r["threads"]): r for r in written["rows"]}
    assert len(rows) == 2 * 4 * 2
    xs = os.path.basename(models[0])

    ok = rows[(xs, "xnnpack", 4)]
    assert ok["status"] == "ok" and ok["source"] == "host-binary" and ok["device"]
    assert ok["runs"] == 20 and ok["avg_ms"] == pytest.approx(24.5026)
    assert ok["init_ms"] == pytest.approx(96.477) and ok["memory_mb"] == pytest.approx(52.6055)
    assert (ok["delegated_nodes"], ok["total_nodes"]) == (183, 187)
    assert rows[(xs, "xnnpack", 1)]["avg_ms"] == pytest.approx(61.2345)
    cpu = rows[(xs, "cpu", 1)]
    assert cpu["status"] == "ok" and cpu["delegated_nodes"] is None and cpu["reason"] is None

    nnapi = rows[(xs, "nnapi", 1)]
    assert nnapi["status"] == "failed" and "Failed to apply NNAPI delegate" in nnapi["reason"]
    assert nnapi["reason"].startswith("exit code 1")
    gpu = rows[(xs, "gpu", 4)]  # ran, but on the CPU: not a gpu measurement
    assert gpu["status"] == "failed"
    assert gpu["reason"] == "gpu is not available: GPU acceleration is unsupported on this platform."
    assert gpu["avg_ms"] is None and gpu["runs"] is None  # CPU numbers do not sit under "gpu"

    # The binary got exactly the run counts, the time limit and the delegate flags.
    argv = [json.loads(line) for line in calls.read_text().splitlines()]
    assert len(argv) == 16
    assert argv[0] == [
        f"--graph={models[0]}",
        "--num_threads=1",
        "--num_runs=20",
        "--warmup_runs=3",
        "--min_secs=0",
        "--warmup_min_secs=0",
        "--max_secs=60",
        "--use_xnnpack=true",
    ]
    # Every run's raw output is kept; no profiles without --op-profiling.
    logs = sorted(os.listdir(out / "logs"))
    assert len(logs) == 16 and all(name.endswith(".log") for name in logs)
    assert not (out / "op_profiles").exists() and written["op_profiles"] == []
    assert written["settings"]["delegates"]["nnapi"] == ["--use_nnapi=true", "--use_xnnpack=false"]
    assert "| host-binary |" in printed


def test_host_op_profiling_writes_one_profile_per_run(models, fake_benchmark, tmp_path, capsys):
    out = tmp_path / "out"
    code, _, _ = _main(
        [
            "--host",
            "--models",
            models[0],
            "--binary",
            fake_benchmark,
            "--delegates",
            "xnnpack",
            "--threads",
            "1,2",
            "--num-runs",
            "4",
            "--op-profiling",
            "--output-dir",
            str(out),
        ],
        capsys,
    )
    assert code == 0
    written = _written_rows(out)
    assert len(written["op_profiles"]) == 2
    with open(written["op_profiles"][0]) as file:
        profile = json.load(file)
    assert profile["delegate"] == "xnnpack" and profile["threads"] == 1 and profile["status"] == "ok"
    node_types = {op["node_type"] for op in profile["ops"]}
    assert {"TfLiteXNNPackDelegate", "BATCH_MATMUL"} <= node_types
    assert "op_profile" not in written["rows"][0]  # the table keeps its columns


# --- a fake adb standing in for phones ---------------------------------------------------------


def test_android_matrix_on_fake_phones(fake_adb, fake_benchmark, tmp_path, capsys):
    adb, calls = fake_adb
    model = tmp_path / "swift former xs.tflite"  # a space: the adb shell command must quote it
    model.write_bytes(b"TFL3" + bytes(60))
    out = tmp_path / "out"
    code, printed, _ = _main(
        [
            "--models",
            str(model),
            "--binary",
            fake_benchmark,
            "--delegates",
            "xnnpack,nnapi",
            "--threads",
            "1,4",
            "--num-runs",
            "12",
            "--warmup-runs",
            "2",
            "--cpu-mask",
            "f0",
            "--adb",
            adb,
            "--output-dir",
            str(out),
        ],
        capsys,
    )
    assert code == 0
    written = _written_rows(out)
    rows = written["rows"]
    assert len(rows) == 4 * 4  # two ready phones, then the unauthorized and the offline one
    assert [r["device"] for r in rows[::4]] == ["28131FDH2000B1", "192.168.1.20:5555", "R58M42ABCDE", "emulator-5554"]

    pixel = {(r["delegate"], r["threads"]): r for r in rows if r["device"] == "28131FDH2000B1"}
    ok = pixel[("xnnpack", 4)]
    assert ok["status"] == "ok" and ok["runs"] == 12 and ok["avg_ms"] == pytest.approx(24.5026)
    assert (ok["source"], ok["device_model"], ok["soc"], ok["android"]) == (
        "android",
        "Pixel 7",
        "GS201",
        "14 (SDK 34)",
    )
    assert ok["model"] == "swift former xs.tflite"
    assert pixel[("nnapi", 1)]["status"] == "failed"
    assert "Failed to apply NNAPI delegate" in pixel[("nnapi", 1)]["reason"]
    old = [r for r in rows if r["device"] == "192.168.1.20:5555"]
    assert old[0]["soc"] == "exynos9820" and old[0]["android"] == "11 (SDK 30)"  # ro.board.platform fallback
    for serial, word in (("R58M42ABCDE", "unauthorized"), ("emulator-5554", "offline")):
        assert all(r["status"] == "failed" and word in r["reason"] for r in rows if r["device"] == serial)
    assert [d["abi"] for d in written["devices"]] == ["arm64-v8a", "arm64-v8a"]

    # What was asked of adb, for the Pixel: properties, push, chmod, push, then the runs.
    pixel_calls = [c[2:] for c in calls() if c[:2] == ["-s", "28131FDH2000B1"]]
    assert pixel_calls[:4] == [
        ["shell", "getprop"],
        ["push", fake_benchmark, "/data/local/tmp/benchmark_model"],
        ["shell", "chmod +x /data/local/tmp/benchmark_model"],
        ["push", str(model), "/data/local/tmp/swift former xs.tflite"],
    ]
    assert pixel_calls[4] == [
        "shell",
        "taskset f0 /data/local/tmp/benchmark_model "
        "'--graph=/data/local/tmp/swift former xs.tflite' --num_threads=1 --num_runs=12 "
        "--warmup_runs=2 --min_secs=0 --warmup_min_secs=0 --max_secs=300 --use_xnnpack=true",
    ]
    assert len(pixel_calls) == 4 + 4
    assert not any(c[:2] == ["-s", "R58M42ABCDE"] for c in calls())  # problem phones are left alone
    assert "| android | 28131FDH2000B1 | Pixel 7 | GS201 | 14 (SDK 34) |" in printed


# --- bad arguments -----------------------------------------------------------------------------


def test_host_litert_tool_gets_the_litert_flags(models, fake_benchmark, tmp_path, monkeypatch, capsys):
    calls = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_BENCH_LOG", str(calls))
    out = tmp_path / "out"
    code, _, _ = _main(
        [
            "--host",
            "--tool",
            "litert",
            "--models",
            models[0],
            "--binary",
            fake_benchmark,
            "--threads",
            "2",
            "--num-runs",
            "20",
            "--warmup-runs",
            "3",
            "--timeout",
            "60",
            "--op-profiling",
            "--output-dir",
            str(out),
        ],
        capsys,
    )
    assert code == 0
    written = _written_rows(out)
    # without --delegates: every accelerator the LiteRT tool has
    assert [r["delegate"] for r in written["rows"]] == ["xnnpack", "gpu", "npu"]
    argv = [json.loads(line) for line in calls.read_text().splitlines()]
    common = [
        f"--graph={models[0]}",
        "--num_threads=2",
        "--num_runs=20",
        "--warmup_runs=3",
        "--min_secs=0",
        "--warmup_min_secs=0",
        "--max_secs=60",
    ]
    assert argv == [
        common + ["--use_cpu=true", "--use_profiler=true"],
        common + ["--use_gpu=true", "--use_profiler=true"],
        common + ["--use_npu=true", "--use_profiler=true"],
    ]
    assert written["settings"]["tool"] == "litert"
    assert written["settings"]["delegates"] == {
        "xnnpack": ["--use_cpu=true"],
        "gpu": ["--use_gpu=true"],
        "npu": ["--use_npu=true"],
    }
    # the tool choice does not outlive the run
    assert benchmark_model.benchmark_command("bm", "m.tflite", "gpu", 1, 1, 1)[-1] == "--use_xnnpack=false"


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--delegates", "xnnpack,tpu"], "unknown delegate(s) tpu"),
        (
            ["--tool", "litert", "--delegates", "nnapi"],
            "unknown delegate(s) nnapi; choose from xnnpack, gpu, npu (--tool litert)",
        ),
        (["--tool", "onnx"], "invalid choice: 'onnx'"),
        (["--delegates", ","], "--delegates is empty"),
        (["--threads", "0"], "positive integers"),
        (["--threads", "1,-2"], "positive integers"),
        (["--threads", "two"], "positive integers"),
        (["--threads", "4294967296"], "positive integers up to 2147483647, not '4294967296'"),
        (["--num-runs", "0"], "argument --num-runs: must be a whole number in [1, 2147483647], got '0'"),
        (["--num-runs", "1e10"], "argument --num-runs: must be a whole number in [1, 2147483647], got '1e10'"),
        (["--warmup-runs", "-1"], "argument --warmup-runs: must be a whole number in [0, 2147483647], got '-1'"),
        (["--timeout", "0"], "argument --timeout: must be a number in (0, 86400], got '0'"),
        # issue 25: inf, and a finite value too large for Python to wait on, ended in OverflowError.
        (["--timeout", "inf"], "argument --timeout: must be a number in (0, 86400], got 'inf'"),
        (["--timeout", "1e300"], "argument --timeout: must be a number in (0, 86400], got '1e300'"),
        (["--timeout", "nan"], "argument --timeout: must be a number in (0, 86400], got 'nan'"),
        (["--cpu-mask", "zz"], "--cpu-mask"),
        (["--cpu-mask", "0"], "--cpu-mask"),
        (["--host", "--serial", "ABC"], "--serial"),
        (["--num-runs", "many"], "got 'many'"),
    ],
)
def test_bad_arguments_exit_with_2(extra, message, tmp_path, capsys):
    out = tmp_path / "out"
    code, printed, err = _main(["--models", "a.tflite", "--binary", "bm", "--output-dir", str(out), *extra], capsys)
    assert code == 2 and printed == ""
    (line,) = _error_lines(err)
    assert message in line and line.endswith("; see --help") and err == line + "\n"
    assert not out.exists()


def test_missing_arguments_and_repeated_model_names(capsys):
    code, _, err = _main(["--models", "a.tflite"], capsys)
    assert code == 2 and "the following arguments are required: --binary" in err
    code, _, err = _main(["--binary", "bm"], capsys)
    assert code == 2 and "the following arguments are required: --models" in err
    code, _, err = _main(["--models", "x/a.tflite", "y/a.tflite", "--binary", "bm"], capsys)
    assert code == 2 and "same file name: a.tflite" in err


def test_a_mistyped_flag_is_named_before_the_missing_ones(capsys):
    code, _, err = _main(["--models", "a.tflite", "--binaries", "bm"], capsys)
    assert code == 2
    assert err == "android_bench/run.py: error: unrecognized arguments: --binaries bm; see --help\n"


def test_script_entry_point_exits_2_on_a_bad_delegate(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "android_bench", "run.py"),
            "--models",
            "a.tflite",
            "--binary",
            "bm",
            "--delegates",
            "dsp",
            "--output-dir",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=str(tmp_path),
    )
    assert result.returncode == 2
    assert "unknown delegate(s) dsp; choose from xnnpack, nnapi, gpu, cpu" in result.stderr


# --- unwritable and full output folders --------------------------------------------------------


def test_an_unwritable_output_dir_is_refused_before_any_run(
    models, fake_benchmark, read_only_dir, tmp_path, monkeypatch, capsys
):
    calls = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_BENCH_LOG", str(calls))
    for folder, message in ((read_only_dir, "is not writable"), (read_only_dir / "out", "cannot be created")):
        code, printed, err = _main(
            [
                "--host",
                "--models",
                *models,
                "--binary",
                fake_benchmark,
                "--delegates",
                "cpu",
                "--threads",
                "1",
                "--output-dir",
                str(folder),
            ],
            capsys,
        )
        assert code == 2 and printed == ""
        (line,) = _error_lines(err)
        assert f"--output-dir '{folder}' {message}" in line
    assert not calls.exists()


def test_a_full_output_dir_ends_in_one_line(models, fake_benchmark, full_disk, capsys):
    code, printed, err = _main(
        [
            "--host",
            "--models",
            *models,
            "--binary",
            fake_benchmark,
            "--delegates",
            "cpu",
            "--threads",
            "1",
            "--num-runs",
            "2",
            "--output-dir",
            str(full_disk),
        ],
        capsys,
    )
    assert code == 2 and printed.count("| host-binary |") == 2  # the table came out before the failure
    (line,) = _error_lines(err)
    assert "no space left on the device" in line and "rows.json" in line and "Nothing was written" in line
    assert [name for _, _, names in os.walk(full_disk) for name in names] == [".filler"]  # no partial left


# --- outputs that would overwrite an input -----------------------------------------------------


def test_an_output_that_is_an_input_is_refused_before_any_run(fake_benchmark, tmp_path, monkeypatch, capsys):
    calls = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_BENCH_LOG", str(calls))
    out = tmp_path / "out"
    out.mkdir()
    model = out / "rows.json"  # a model that rows.json would replace
    model.write_bytes(b"TFL3" + bytes(60))
    for output_dir, message in (
        (out, f"--output-dir's rows.json '{model}' is the input --models '{model}'"),
        (fake_benchmark, f"--output-dir '{fake_benchmark}' is the input --binary"),
    ):
        code, printed, err = _main(
            [
                "--host",
                "--models",
                str(model),
                "--binary",
                fake_benchmark,
                "--delegates",
                "cpu",
                "--threads",
                "1",
                "--output-dir",
                str(output_dir),
            ],
            capsys,
        )
        assert code == 2 and printed == ""
        (line,) = _error_lines(err)
        assert message in line
    assert not calls.exists() and model.read_bytes() == b"TFL3" + bytes(60)
    assert sorted(os.listdir(out)) == ["rows.json"]
