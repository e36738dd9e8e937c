"""conversion/op_costs.py: each probe file holds the op it names, in the dtype it names, and computes it;
the timings come out per copy for every op (speed figures live in its output, not here)."""

import csv
import json
import subprocess

import numpy as np
import pytest

from conftest import ROOT
from conversion import op_costs
from swiftformer_keras.lite.interpreter import make_interpreter
from swiftformer_keras.lite.report import op_table

PROG = "conversion/op_costs.py"
# The TFLite op each probe must consist of (besides the converter's constant folding).
EXPECTED_OP = {
    "CONV_2D 1x1, C -> C": "CONV_2D",
    "CONV_2D 1x1, C -> 4C": "CONV_2D",
    "CONV_2D 1x1, C -> 1": "CONV_2D",
    "DEPTHWISE_CONV_2D 3x3": "DEPTHWISE_CONV_2D",
    "LOGISTIC": "LOGISTIC",
    "MUL, same shape": "MUL",
    "MUL by one value per token": "MUL",
    "MUL by one value per channel": "MUL",
    "ADD, same shape": "ADD",
    "SUM over channels": "SUM",
    "TRANSPOSE tokens x channels": "TRANSPOSE",
}


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    folder = tmp_path_factory.mktemp("op_costs")
    code = op_costs.main(
        [
            "--height",
            "8",
            "--channels",
            "16",
            "--copies",
            "3",
            "--runs",
            "3",
            "--warmup",
            "1",
            "--arm-cpus",
            "cortex-a76",
            "--output-dir",
            str(folder),
        ]
    )
    assert code == 0
    with open(folder / "op_costs.json") as file:
        return folder, json.load(file)


def test_every_probe_is_its_op_three_times_in_its_dtype(result):
    folder, _ = result
    module = op_costs
    assert [name for name, *_ in module.OP_COSTS] == list(EXPECTED_OP)
    for index, (name, *_) in enumerate(module.OP_COSTS):
        for dtype in module.DTYPES:
            rows = op_table(str(folder / f"op_{index:02d}_{dtype}.tflite"))
            studied = [row for row in rows if row["op"] == EXPECTED_OP[name]]
            assert len(studied) == 3, (name, dtype, rows)
            assert {row["input_dtype"] for row in studied} == {dtype}, (name, dtype)
            assert {row["op"] for row in rows} <= {EXPECTED_OP[name], "RESHAPE"}, (name, dtype, rows)


def test_the_int8_probe_computes_what_the_float_one_does(result):
    """Per-token MUL, every copy fed the same values: the float file against NumPy, the int8 file too."""
    folder, _ = result
    index = [name for name, *_ in op_costs.OP_COSTS].index("MUL by one value per token")
    rng = np.random.default_rng(1)
    x, token = rng.uniform(0.1, 4, (1, 8, 8, 16)), rng.uniform(0.1, 4, (1, 8, 8, 1))
    outputs = {}
    for dtype in ("float32", "int8"):
        interpreter = make_interpreter(model_path=str(folder / f"op_{index:02d}_{dtype}.tflite"))
        for detail in interpreter.get_input_details():
            values = x if detail["shape"][-1] == 16 else token
            if dtype == "int8":
                scale, zero = detail["quantization"]
                values = np.clip(np.round(values / scale + zero), -128, 127)
            interpreter.set_tensor(detail["index"], values.astype(detail["dtype"]))
        interpreter.invoke()
        got = []
        for detail in interpreter.get_output_details():
            values = interpreter.get_tensor(detail["index"]).astype(np.float64)
            if dtype == "int8":
                scale, zero = detail["quantization"]
                values = (values - zero) * scale
            got.append(values)
        outputs[dtype] = got
    reference = x * token
    assert len(outputs["float32"]) == len(outputs["int8"]) == 3
    for float_out, int8_out in zip(outputs["float32"], outputs["int8"], strict=True):
        np.testing.assert_allclose(float_out, reference, rtol=1e-5)
        # Inputs and product at 1/256 of their ranges: a few percent of the product's range at most.
        assert np.abs(int8_out - reference).max() < 0.03 * np.abs(reference).max()


def test_rows_time_every_op_in_one_partition(result, capsys):
    folder, found = result
    assert [row["op"] for row in found["rows"]] == list(EXPECTED_OP)
    for row in found["rows"]:
        assert row["int8 us"] > 0 and row["float32 us"] > 0
        assert row["int8 / fp32"] == pytest.approx(row["int8 us"] / row["float32 us"])
        assert row["int8 partitions"] == row["float32 partitions"] == 1, row["op"]
    assert found["copies"] == 3 and found["runtime"].startswith("litert ")
    assert found["arm_cpus"] == ["cortex-a76"]
    for row in found["rows"]:  # exact counts on the emulated core, per copy
        int8, fp32 = row["cortex-a76 int8 instructions"], row["cortex-a76 float32 instructions"]
        assert 100 < int8 < 1e6 and 100 < fp32 < 1e6 and row["cortex-a76 int8 / fp32"] == pytest.approx(int8 / fp32)
    rows = {row["op"]: row for row in found["rows"]}
    # The dot-product core's int8 GEMM beats its float one even at 8x8x16; a copy is no free lunch either way.
    assert rows["CONV_2D 1x1, C -> 4C"]["cortex-a76 int8 / fp32"] < 1
    with open(folder / "op_costs.csv", newline="") as file:
        assert [row["op"] for row in csv.DictReader(file)] == list(EXPECTED_OP)
    page = (folder / "op_costs.md").read_text()  # its results page: the command and the table
    assert page.startswith("# What one op costs in int8 and in fp32, inside an XNNPACK graph\n\nMeasured on 20")
    assert found["command"] in page and "QEMU's ARM64 cores" in page and "| CONV_2D 1x1, C -> 4C |" in page


@pytest.fixture
def op_costs_without_work(monkeypatch):
    """The script, failing the test if it starts to convert or time an op: a refusal must come first."""

    def started(*args, **kwargs):
        raise AssertionError("op_costs started working before every argument was checked")

    module = op_costs
    monkeypatch.setattr(module, "make_files", started)
    monkeypatch.setattr(module, "time_ops", started)
    return module


@pytest.mark.parametrize(
    "flag, value, allowed",
    [
        ("--copies", "0", "a whole number >= 1"),
        ("--height", "0", "a whole number >= 1"),
        ("--channels", "-3", "a whole number >= 1"),
        ("--threads", "0", "a whole number >= 1"),
        ("--runs", "nan", "a whole number >= 1"),
        ("--warmup", "-1", "a whole number >= 0"),
    ],
)
def test_a_bad_number_is_one_line_and_exit_2_before_any_work(
    op_costs_without_work, tmp_path, capsys, flag, value, allowed
):
    with pytest.raises(SystemExit) as exit_info:
        op_costs_without_work.main([flag, value, "--output-dir", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        f"{PROG}: error: argument {flag}: must be {allowed}, got '{value}'; see --help"
    ]
    assert not (tmp_path / "out").exists()


def test_the_tflite_runtime_environment_is_told_in_one_line_to_use_venv(tflite_runtime_python, tmp_path):
    refused = subprocess.run(
        [tflite_runtime_python, PROG, "--output-dir", str(tmp_path / "out")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode == 2 and refused.stdout == ""
    (line,) = refused.stderr.splitlines()
    assert line.startswith(f"{PROG}: error: this Python ({tflite_runtime_python}) has no TensorFlow")
    assert "run it with .venv/bin/python" in line and not (tmp_path / "out").exists()
