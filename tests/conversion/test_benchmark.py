"""conversion/benchmark.py end to end on a small SwiftFormer with few runs (speed targets live in its
output, not here)."""

import csv
import importlib.metadata
import json
import os
import subprocess

import numpy as np
import pytest

import swiftformer_keras as sfk
from conftest import ROOT, TINY
from conversion import benchmark
from swiftformer_keras.models.random_init import randomize_weights

PROG = "conversion/benchmark.py"


@pytest.fixture
def benchmark_without_work(monkeypatch):
    """The benchmark script, failing the test if it starts to build, load or calibrate a model:
    a refusal must come before any of them."""
    from swiftformer_keras.lite import calibration
    from swiftformer_keras.lite import pipeline as conversion

    def started(*args, **kwargs):
        raise AssertionError("the benchmark started working before every argument was checked")

    module = benchmark
    for owner, name in (
        (module, "variant_model"),
        (module, "benchmark_variant"),
        (conversion, "load_keras_model"),
        (calibration, "sample_images"),
    ):
        monkeypatch.setattr(owner, name, started)
    return module


def _refusal(module, argv, capsys):
    """`(exit code, the one line on stderr)` of `module.main(argv)`."""
    try:
        code = module.main(argv)
    except SystemExit as exit_info:  # a usage error, from argparse
        code = exit_info.code
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1, lines
    return code, lines[0]


@pytest.fixture
def photos(tmp_path):
    from PIL import Image

    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(folder / "0.png")
    return folder


def test_benchmark_runs_every_mode_and_writes_its_tables(tmp_path, capsys):
    from PIL import Image

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(4):
        Image.fromarray(np.random.default_rng(i).integers(0, 255, (80, 72, 3), dtype=np.uint8)).save(
            photos / f"{i}.png"
        )
    out, keras_file = tmp_path / "out", tmp_path / "tiny.keras"
    randomize_weights(sfk.SwiftFormer(TINY, input_shape=(64, 64, 3), classifier_activation=None)).save(keras_file)
    code = benchmark.main(
        [
            "--keras-model",
            str(keras_file),
            "--calib-dir",
            str(photos),
            "--num-calib",
            "4",
            "--runs",
            "3",
            "--warmup",
            "1",
            "--output-dir",
            str(out),
            "--profile",
            "--profile-runs",
            "1000",  # TINY runs ~0.3 ms: 100 invokes gave perf ~30 samples, and a loaded host none of a kind
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "| tiny.keras | int8 |" in printed and "int8 VNNI floor ms" in printed
    assert "**SwiftFormer-tiny.keras fp32**" in printed and "**SwiftFormer-tiny.keras int8**" in printed
    assert "| variant | int8 median ms | int8 / fp32 | GEMM share of int8 | GEMM-only ms |" in printed
    with open(out / "benchmark.json") as file:
        result = json.load(file)
    litert = f"litert {importlib.metadata.version('ai-edge-litert')}"  # the automatic choice in .venv
    assert result["runtime"] == litert and f"TFLite runtime: {litert}" in printed
    rows = {row["mode"]: row for row in result["rows"]}
    assert list(rows) == ["fp32", "fp16", "dynamic", "int8"]
    for row in rows.values():
        assert 0 < row["p5_ms"] <= row["median_ms"] <= row["p95_ms"]
        assert row["latency_vs_fp32"] == pytest.approx(row["median_ms"] / rows["fp32"]["median_ms"])
        assert os.path.getsize(out / f"swiftformer_tiny_keras_{row['mode']}.tflite") == pytest.approx(
            row["size_mb"] * 1e6
        )
    # int8 shrinks the file; less for a small model, whose fixed parts weigh more (XS: 0.29, docs/benchmarks).
    assert rows["int8"]["xnnpack_partitions"] == 1 and rows["int8"]["size_vs_fp32"] < 0.55
    (checks,) = result["checks"]
    assert checks["fp32_max_abs_diff_vs_keras"] <= 1e-4 and checks["logit_std"] > 2
    # perf's profile of each file (tests/test_kernel_profile.py checks the kernels it names).
    for mode, profile in checks["profiles"].items():
        assert profile["model"] == str(out / f"swiftformer_tiny_keras_{mode}.tflite") and profile["runs"] == 1000
        assert profile["kinds"]["GEMM"]["share"] > 0.05
    with open(out / "benchmark.csv") as file:
        assert len(list(csv.DictReader(file))) == 4
    assert (out / "benchmark.png").read_bytes()[:4] == b"\x89PNG"
    page = (out / "benchmark.md").read_text()  # the results page the documentation takes as written
    assert page.startswith("# Latency of the four modes on this host\n\nMeasured on 20")
    assert result["command"] in page and litert in page and "![" in page and "(benchmark.png)" in page
    assert "| tiny.keras | int8 |" in page


def test_a_variant_gets_realistic_random_weights_and_logits():
    model = benchmark.variant_model("XS", (64, 64))
    logits = np.asarray(model(np.random.default_rng(0).normal(size=(2, 64, 64, 3)).astype("float32")))
    assert logits.shape == (2, 1000) and logits.std() > 2  # not a softmax, not the 0.03 of default init


def test_missing_calibration_folder_is_a_clear_error(tmp_path, capsys):
    code = benchmark.main(["--calib-dir", str(tmp_path / "none"), "--output-dir", str(tmp_path / "out")])
    assert code == 2 and "does not exist" in capsys.readouterr().err


def test_an_unusable_or_full_output_dir_is_one_line_and_exit_2(tmp_path, full_disk, capsys):
    from PIL import Image

    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(photos / "0.png")
    (tmp_path / "a_file").write_text("x")
    base = [
        "--variants",
        "XS",
        "--input-size",
        "64",
        "64",
        "--calib-dir",
        str(photos),
        "--num-calib",
        "1",
        "--runs",
        "1",
        "--warmup",
        "0",
    ]
    assert benchmark.main([*base, "--output-dir", str(tmp_path / "a_file")]) == 2
    assert "--output-dir" in (err := capsys.readouterr().err) and "is a file, not a folder" in err
    before = sorted(os.listdir(full_disk))
    assert benchmark.main([*base, "--output-dir", str(full_disk)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("conversion/benchmark.py: error: no space left") and "Traceback" not in "\n".join(err)
    assert sorted(os.listdir(full_disk)) == before


@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated")
def test_time_files_and_partitions_use_the_runtime_asked_for(small_tflite):
    for runtime, partitions in (("litert", 1), ("tensorflow", 1), ("litert-compiled", None)):
        times = benchmark.time_files(
            {"a": small_tflite, "b": small_tflite}, threads=1, runs=3, warmup=1, runtime=runtime
        )
        assert {name: len(ms) for name, ms in times.items()} == {"a": 3, "b": 3}
        assert all(0 < value < 1000 for ms in times.values() for value in ms)
        assert benchmark.xnnpack_partitions(small_tflite, runtime) == partitions  # CompiledModel cannot tell
    with pytest.raises(ImportError, match="tflite-runtime is not installed in this Python"):
        benchmark.time_files({"a": small_tflite}, threads=1, runs=1, warmup=0, runtime="tflite-runtime")


def test_litert_compiled_is_a_runtime_choice_and_its_unknown_partitions_read_n_a():
    version = importlib.metadata.version("ai-edge-litert")
    assert benchmark.parse_args(["--calib-dir", "photos", "--runtime", "litert-compiled"]).runtime == "litert-compiled"
    assert benchmark.check_environment("litert-compiled") == f"litert-compiled {version}"
    row = {
        "variant": "XS",
        "mode": "fp32",
        "size_mb": 12.0,
        "size_vs_fp32": 1.0,
        "xnnpack_partitions": None,
        "median_ms": 8.0,
        "p5_ms": 7.5,
        "p95_ms": 9.0,
        "latency_vs_fp32": 1.0,
        "gmac_per_s": 75.0,
    }
    check = {"variant": "XS", "gmacs": 0.6, "fp32_max_abs_diff_vs_keras": 1e-5, "logit_std": 3.0}
    (name, table), (checks_name, _) = benchmark.markdown([row], [{**check, "fp16_relative_error_max": 1e-3}], threads=2)
    assert "| XS | fp32 | 12.00 | 1.00 | n/a | 8.00 |" in table and (name, checks_name) == ("latency", "checks")


def test_a_bad_or_missing_runtime_is_exit_2_before_any_work(tmp_path, capsys):
    base = ["--calib-dir", str(tmp_path / "none"), "--output-dir", str(tmp_path / "out")]
    with pytest.raises(SystemExit) as exit_info:
        benchmark.main([*base, "--runtime", "nosuch"])
    assert exit_info.value.code == 2
    assert "argument --runtime: invalid choice: 'nosuch'" in capsys.readouterr().err
    # Refused before the calibration folder (which does not exist) is even looked at. The environment
    # that has tflite-runtime has no TensorFlow: the line points to the tool that times files there.
    assert benchmark.main([*base, "--runtime", "tflite-runtime"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("conversion/benchmark.py: error: tflite-runtime is not installed in this Python")
    assert "conversion/runtime_matrix.py --envs tflite-runtime-2.14 litert-2.3" in line
    assert "make .venv-tflite-runtime/.installed" in line and not (tmp_path / "out").exists()


# --- issue 25: every flag and path is checked before a model is built ------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["--runs", "0"], "argument --runs: must be a whole number >= 1, got '0'"),  # was an IndexError after the work
        (["--threads", "0"], "argument --threads: must be a whole number >= 1, got '0'"),  # was refused after it
        (["--warmup", "-1"], "argument --warmup: must be a whole number >= 0, got '-1'"),
        (["--num-calib", "0"], "argument --num-calib: must be a whole number >= 1, got '0'"),
        (["--runs", "inf"], "argument --runs: must be a whole number >= 1, got 'inf'"),
        (["--profile", "--profile-runs", "0"], "argument --profile-runs: must be a whole number >= 1, got '0'"),
        (["--input-size", "16", "64"], "argument --input-size: must be a whole number >= 64, got '16'"),
    ],
)
def test_a_bad_number_is_refused_by_the_parser_before_any_work(
    benchmark_without_work, photos, tmp_path, capsys, args, message
):
    code, line = _refusal(
        benchmark_without_work, ["--calib-dir", str(photos), "--output-dir", str(tmp_path / "out"), *args], capsys
    )
    assert code == 2 and line.startswith(f"{PROG}: error: {message}") and line.endswith("; see --help")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--variants", "XXL"], "argument --variants: invalid choice: 'XXL'"),
        (["--variants", "XS", "xs"], "--variants names XS more than once"),
        (
            ["--variants", "XS", "--keras-model", "{photos}/0.png"],
            "--keras-model: not allowed with argument --variants",
        ),
        (["--keras-model", "{tmp}/none.keras"], "--keras-model '{tmp}/none.keras' does not exist"),
        (["--keras-model", "{photos}/0.png", "--weights", "imagenet"], "--weights 'imagenet' is for --variants"),
        (["--weights", "{tmp}/none.weights.h5"], "--weights '{tmp}/none.weights.h5' does not exist"),
        (["--profile-runs", "10"], "--profile-runs applies with --profile only"),
        (["--input-size", "100", "64"], "Image size (100, 64) is not supported"),
    ],
)
def test_a_bad_source_is_refused_before_any_work(benchmark_without_work, photos, tmp_path, capsys, args, message):
    args = [arg.format(photos=photos, tmp=tmp_path) for arg in args]
    code, line = _refusal(
        benchmark_without_work, ["--calib-dir", str(photos), "--output-dir", str(tmp_path / "out"), *args], capsys
    )
    assert code == 2 and message.format(photos=photos, tmp=tmp_path) in line
    assert not (tmp_path / "out").exists()


def test_calibration_photos_are_required_and_checked_before_any_work(benchmark_without_work, tmp_path, capsys):
    code, line = _refusal(benchmark_without_work, ["--variants", "XS"], capsys)
    assert code == 2 and line == f"{PROG}: error: the following arguments are required: --calib-dir; see --help"
    (tmp_path / "empty").mkdir()
    code, line = _refusal(benchmark_without_work, ["--calib-dir", str(tmp_path / "empty")], capsys)
    assert code == 2 and line.startswith(f"{PROG}: error: Image folder {str(tmp_path / 'empty')!r} holds no .jpg")


def test_an_output_folder_that_is_or_lies_in_an_input_is_refused(benchmark_without_work, photos, capsys):
    for output in (photos, photos / "results"):
        code, line = _refusal(benchmark_without_work, ["--calib-dir", str(photos), "--output-dir", str(output)], capsys)
        assert code == 2 and "--calib-dir" in line and str(photos) in line, line
    assert sorted(os.listdir(photos)) == ["0.png"]


def test_an_output_file_that_is_an_input_is_refused(benchmark_without_work, photos, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "benchmark.json").write_text("{}")  # a weights file, however unlikely its name
    code, line = _refusal(
        benchmark_without_work,
        ["--calib-dir", str(photos), "--output-dir", str(out), "--weights", str(out / "benchmark.json")],
        capsys,
    )
    assert code == 2 and "is the input --weights" in line and (out / "benchmark.json").read_text() == "{}"


def test_the_tflite_runtime_environment_is_told_in_one_line_to_use_venv(tflite_runtime_python, photos):
    """README's `--runtime tflite-runtime` there: the benchmark converts with TensorFlow, which that
    environment lacks (its Keras has no backend): one line, not an `import keras` traceback."""
    helped = subprocess.run(
        [tflite_runtime_python, PROG, "--help"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert helped.returncode == 0 and "usage:" in helped.stdout and helped.stderr == ""
    refused = subprocess.run(
        [
            tflite_runtime_python,
            PROG,
            "--runtime",
            "tflite-runtime",
            "--calib-dir",
            str(photos),
            "--output-dir",
            str(photos.parent / "out"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode == 2 and refused.stdout == ""
    (line,) = refused.stderr.splitlines()
    assert line.startswith(f"{PROG}: error: this Python ({tflite_runtime_python}) has no TensorFlow")
    assert "run it with .venv/bin/python" in line and "conversion/runtime_matrix.py" in line
    assert not (photos.parent / "out").exists()


def test_profile_without_perf_is_one_line_and_exit_2_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # no perf on it
    code = benchmark.main(["--calib-dir", str(tmp_path), "--output-dir", str(tmp_path / "out"), "--profile"])
    err = capsys.readouterr().err
    assert code == 2 and "perf is not installed: sudo apt-get install linux-perf" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out" / "benchmark.json").exists()
