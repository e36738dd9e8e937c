"""conversion/runtime_matrix.py: our files on the runtimes in the field, in one table."""

import csv
import json
import os
import subprocess

import numpy as np
import pytest

from conftest import ROOT, TINY
from conversion import runtime_matrix

PROG = "conversion/runtime_matrix.py"


@pytest.fixture
def matrix_without_work(monkeypatch):
    """The matrix script, failing the test if it starts to build, load or calibrate a model, to
    convert a probe or to start a runtime: a refusal must come before any of them."""
    from swiftformer_keras.lite import calibration
    from swiftformer_keras.lite import pipeline as conversion

    def started(*args, **kwargs):
        raise AssertionError("the matrix started working before every argument was checked")

    module = runtime_matrix
    for owner, name in (
        (module, "random_models"),
        (module, "make_probes"),
        (module, "RuntimeProcess"),
        (conversion, "load_keras_model"),
        (calibration, "sample_images"),
        (calibration, "random_images"),
    ):
        monkeypatch.setattr(owner, name, started)
    return module


@pytest.fixture(scope="module")
def matrix(tmp_path_factory, tflite_runtime_python):
    """The matrix of a small SwiftFormer (64 x 64, `--keras-model`) on tflite-runtime 2.14 and
    LiteRT, the runtimes `make test` builds."""
    from swiftformer_keras import SwiftFormer
    from swiftformer_keras.models.random_init import randomize_weights

    folder = tmp_path_factory.mktemp("matrix")
    keras_file = tmp_path_factory.mktemp("model") / "tiny.keras"
    randomize_weights(SwiftFormer(TINY, input_shape=(64, 64, 3), classifier_activation=None)).save(keras_file)
    code = runtime_matrix.main(
        [
            "--keras-model",
            str(keras_file),
            "--calib-random",
            "--num-calib",
            "4",
            "--runs",
            "2",
            "--per-turn",
            "1",
            "--envs",
            "tflite-runtime-2.14",
            "litert-2.3",
            "--output-dir",
            str(folder),
        ]
    )
    assert code == 0
    with open(folder / "runtime_matrix.json") as file:
        return folder, json.load(file)


def test_the_matrix_shows_what_loads_and_what_the_old_recipes_fix(matrix, capsys):
    folder, result = matrix
    assert result["runtimes"] == {
        "tflite-runtime-2.14": "tflite-runtime 2.14.0",
        "litert-2.3": result["runtimes"]["litert-2.3"],
    }
    assert {row["variant"] for row in result["rows"]} == {"tiny.keras"}
    rows = {(row["mode"], row["min_runtime"]): row for row in result["rows"]}
    # One file per mode and distinct recipe: the 2.17 and 2.14 recipes differ in every mode.
    assert sorted(rows) == sorted(
        (mode, version) for mode in ("fp32", "fp16", "dynamic", "int8") for version in ("2.17", "2.14")
    )
    refused = rows[("dynamic", "2.17")]
    assert refused["needs"] == "2.17.0" and refused["tflite-runtime-2.14 ms"] is None
    assert "FULLY_CONNECTED" in refused["tflite-runtime-2.14 error"]
    for key, row in rows.items():
        assert row["litert-2.3 ms"] > 0 and row["litert-2.3 partitions"] >= 1, key
        if key != ("dynamic", "2.17"):
            assert row["tflite-runtime-2.14 ms"] > 0, key
    # The float recipe for 2.14 is one XNNPACK partition there; LiteRT's recipe splits at each of the 9 GELUs.
    assert rows[("fp32", "2.14")]["tflite-runtime-2.14 partitions"] == 1
    assert rows[("fp32", "2.17")]["tflite-runtime-2.14 partitions"] >= 9
    assert rows[("int8", "2.17")]["litert-2.3 partitions"] == rows[("int8", "2.14")]["litert-2.3 partitions"] == 1
    assert rows[("fp32", "2.17")]["default"] and rows[("fp16", "2.17")]["default"]
    assert rows[("dynamic", "2.14")]["default"] and rows[("int8", "2.14")]["default"]
    ratios = {(item["min_runtime"], item["runtime"]): item for item in result["ratios"]}
    assert sorted(ratios) == sorted((v, r) for v in ("2.17", "2.14") for r in ("tflite-runtime-2.14", "litert-2.3"))
    new = ratios[("2.17", "litert-2.3")]
    assert new["int8_over_fp32"] == rows[("int8", "2.17")]["litert-2.3 ms"] / rows[("fp32", "2.17")]["litert-2.3 ms"]
    assert new["fp32_over_newest_default_fp32"] == 1.0
    old = ratios[("2.14", "tflite-runtime-2.14")]
    assert old["fp32_over_newest_default_fp32"] == (
        rows[("fp32", "2.14")]["tflite-runtime-2.14 ms"] / rows[("fp32", "2.17")]["litert-2.3 ms"]
    )
    with open(folder / "runtime_matrix.csv") as file:
        assert len(list(csv.DictReader(file))) == len(rows)
    assert (folder / "runtime_matrix.png").read_bytes()[:4] == b"\x89PNG"
    page = (folder / "runtime_matrix.md").read_text()  # its results page: the command, the table, the chart
    assert page.startswith("# Our files on every runtime\n\nMeasured on 20")
    assert "python conversion/runtime_matrix.py " in page and "(runtime_matrix.png)" in page


def test_a_missing_environment_says_how_to_make_it():
    with pytest.raises(ValueError, match=r"\.venv-nope is not built: run `make runtimes`"):
        runtime_matrix.environment_python(".venv-nope")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--envs", "nosuch"], "argument --envs: invalid choice: 'nosuch'"),
        ([], "int8 needs --calib-dir DIR"),
        (["--calib-random", "--min-runtimes", "2.11"], "argument --min-runtimes: Unsupported --min-runtime '2.11'"),
        (
            ["--calib-random", "--envs", "litert-2.3", "--keras-model", "nosuch.keras"],
            "--keras-model 'nosuch.keras' does not exist",
        ),
        (["--calib-random", "--runs", "0"], "argument --runs: must be a whole number >= 1, got '0'"),
        (["--calib-random", "--threads", "0"], "argument --threads: must be a whole number >= 1, got '0'"),
        (["--calib-random", "--per-turn", "0"], "argument --per-turn: must be a whole number >= 1, got '0'"),
        (
            ["--calib-random", "--input-size", "48", "48"],
            "argument --input-size: must be a whole number >= 64, got '48'",
        ),
        (["--calib-random", "--input-size", "100", "64"], "Image size (100, 64) is not supported"),
        (["--calib-random", "--variants", "XS", "xs"], "--variants names XS more than once"),
        (
            ["--calib-random", "--variants", "XS", "--keras-model", "{tmp}/tiny.keras"],
            "argument --keras-model: not allowed with argument --variants",
        ),
        (["--calib-random", "--calib-dir", "{tmp}"], "argument --calib-dir: not allowed with argument --calib-random"),
        (["--calib-dir", "{tmp}/none", "--envs", "litert-2.3"], "Image folder '{tmp}/none' does not exist"),
        (["--ops", "--keras-model", "{tmp}/tiny.keras"], "--ops converts single ops, not a model: drop --keras-model"),
        (
            ["--ops", "--calib-random", "--runs", "5"],
            "--ops converts single ops, not a model: drop --calib-random, --runs",
        ),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2_before_any_work(matrix_without_work, tmp_path, capsys, args, message):
    (tmp_path / "tiny.keras").write_bytes(b"")
    try:
        code = matrix_without_work.main(
            [*(arg.format(tmp=tmp_path) for arg in args), "--output-dir", str(tmp_path / "out")]
        )
    except SystemExit as exit_info:
        code = exit_info.code
    assert code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"{PROG}: error: ") and message.format(tmp=tmp_path) in line
    assert not os.path.exists(tmp_path / "out")


def test_an_output_folder_in_the_calibration_folder_is_refused(matrix_without_work, tmp_path, capsys):
    from PIL import Image

    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(photos / "0.png")
    code = matrix_without_work.main(
        ["--calib-dir", str(photos), "--envs", "litert-2.3", "--output-dir", str(photos / "matrix")]
    )
    (line,) = capsys.readouterr().err.splitlines()
    assert code == 2 and "lies inside the input folder --calib-dir" in line
    assert os.listdir(photos) == ["0.png"]


def test_the_tflite_runtime_environment_is_told_in_one_line_to_use_venv(tflite_runtime_python, tmp_path):
    refused = subprocess.run(
        [tflite_runtime_python, PROG, "--calib-random", "--output-dir", str(tmp_path / "out")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode == 2 and refused.stdout == ""
    (line,) = refused.stderr.splitlines()
    assert line.startswith(f"{PROG}: error: this Python ({tflite_runtime_python}) has no TensorFlow")
    assert "run it with .venv/bin/python" in line and not (tmp_path / "out").exists()


def test_ops_says_which_single_ops_each_runtime_delegates(tmp_path, tflite_runtime_python, capsys):
    """The facts behind recipe.RECIPES, read off the runtimes themselves."""
    assert (
        runtime_matrix.main(["--ops", "--envs", "tflite-runtime-2.14", "litert-2.3", "--output-dir", str(tmp_path)])
        == 0
    )
    with open(tmp_path / "runtime_ops.json") as file:
        rows = {(row["op"], row["dtype"]): row for row in json.load(file)["rows"]}
    old, new = "tflite-runtime-2.14", "litert-2.3"
    page = (tmp_path / "runtime_ops.md").read_text()  # the results page holds the same answers
    (gelu,) = [line for line in page.splitlines() if line.startswith("| GELU | float32 |")]
    assert gelu.endswith("| no | yes |") and "runtime_matrix.py --ops --envs" in page
    # The float ops the old XNNPACK lacks, which the float recipe for 2.14 writes otherwise.
    for op in ("GELU", "SUM over channels", "RSQRT"):
        assert (rows[(op, "float32")][old], rows[(op, "float32")][new]) == ("no", "yes"), op
    # ... and what it writes them with.
    for op in ("LOGISTIC", "MUL", "SUM over tokens", "MEAN over tokens", "CONV_2D 1x1, C -> 1", "SQRT", "MAXIMUM"):
        assert rows[(op, "float32")][old] == rows[(op, "float32")][new] == "yes", op
    # tflite-runtime 2.14's XNNPACK takes no int8 op at all; LiteRT's takes the int8 recipe's ops,
    # and no int8 GELU or RSQRT (kept as quick GELU and in float).
    assert {row[old] for (op, dtype), row in rows.items() if dtype == "int8"} <= {"no", "does not load"}
    for op in (
        "LOGISTIC",
        "MUL",
        "SUM over tokens",
        "CONV_2D 1x1, C -> 1",
        "SUM over tokens as TRANSPOSE + FULLY_CONNECTED",
        "SUM over tokens as H x W DEPTHWISE_CONV_2D",
    ):
        assert rows[(op, "int8")][new] == "yes", op
    assert rows[("SUM over tokens as TRANSPOSE + FULLY_CONNECTED", "int8")]["ops"].split() == [
        "RESHAPE/int8",
        "TRANSPOSE/int8",
        "FULLY_CONNECTED/int8",
    ]
    assert rows[("GELU", "int8")][new] == rows[("RSQRT", "int8")][new] == "no"
    assert rows[("GELU", "float32")]["ops"] == "GELU/float32"  # one op per file
    assert "| GELU | float32 | GELU/float32 | no | yes |" in capsys.readouterr().out
