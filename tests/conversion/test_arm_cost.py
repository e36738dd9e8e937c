"""conversion/arm_cost.py on the TINY model's files: the table, its files, and bad input in one line."""

import json
import os
import shutil

import numpy as np
import pytest

from conftest import IMAGENET_SAMPLES, tiny_model
from conversion import arm_cost
from swiftformer_keras.lite.calibration import load_images, random_images
from swiftformer_keras.lite.converter import export_tflite
from swiftformer_keras.lite.predictor import tflite_runner


@pytest.fixture(scope="module")
def tiny_pair(tmp_path_factory):
    folder = tmp_path_factory.mktemp("arm_cost")
    model = tiny_model("l2")
    fp32 = export_tflite(model, str(folder / "fp32.tflite"), metadata=False)
    int8 = export_tflite(
        model, str(folder / "int8.tflite"), mode="int8", calibration=random_images(8, (64, 64), seed=1), metadata=False
    )
    return fp32, int8


def test_counts_land_in_a_table_and_its_files(tiny_pair, tmp_path, capsys):
    fp32, int8 = tiny_pair
    out = tmp_path / "out"
    argv = [fp32, f"q={int8}", "--cpus", "cortex-a76", "cortex-a53", "--functions", "3", "--output-dir", str(out)]
    assert arm_cost.main(argv) == 0
    printed = capsys.readouterr().out
    assert (
        "| file | runtime | CPU | partitions | M instructions / invoke | / fp32 | max \\|diff\\| vs host |" in printed
    )
    assert sorted(os.listdir(out)) == ["arm_cost.csv", "arm_cost.json", "arm_cost.md", "arm_cost.png"]
    page = (out / "arm_cost.md").read_text()  # the results page: the command, where, the tables, the chart
    assert page.startswith("# SwiftFormer TFLite files on ARM64 cores\n\nMeasured on 20")
    assert "QEMU 7.2" in page and json.loads((out / "arm_cost.json").read_text())["command"] in page
    assert "![SwiftFormer TFLite files on ARM64 cores](arm_cost.png)" in page and "| `xnn_qs8_" in page
    assert "**q, litert 2.3.0, cortex-a76**" in printed and "| `xnn_qs8_" in printed  # the kernels by name
    saved = json.loads((out / "arm_cost.json").read_text())
    rows = {(row["file"], row["cpu"]): row for row in saved["rows"]}
    assert set(rows) == {(f, c) for f in ("fp32", "q") for c in ("cortex-a76", "cortex-a53")}
    assert rows["fp32", "cortex-a76"]["over_baseline"] == 1.0 and rows["fp32", "cortex-a76"]["partitions"] == 1
    assert rows["q", "cortex-a76"]["over_baseline"] < 0.8  # int8 costs fewer instructions with the dot product
    assert rows["q", "cortex-a53"]["instructions"] > rows["q", "cortex-a76"]["instructions"]
    assert all(row["max_abs_diff_vs_host"] < 0.05 for row in saved["rows"])  # softmax outputs
    assert saved["command"].startswith("python conversion/arm_cost.py ")
    assert (out / "arm_cost.csv").read_text().startswith("file,runtime,cpu,partitions,instructions,")
    top = rows["q", "cortex-a76"]["functions"][0]
    assert top["function"].startswith("xnn_qs8_") and top["instructions_per_invoke"] > 0


def test_photos_compare_each_file_on_the_arm_kernels_and_here(tiny_pair, tmp_path, capsys):
    fp32, int8 = tiny_pair
    out = tmp_path / "out"
    argv = [fp32, f"q={int8}", "--cpus", "cortex-a76", "--images", IMAGENET_SAMPLES, "--num", "3"]
    assert arm_cost.main([*argv, "--output-dir", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| top-1 = fp32's (ARM / host) | SQNR dB vs fp32 (ARM / host) |" in printed
    rows = {row["file"]: row for row in json.loads((out / "arm_cost.json").read_text())["rows"]}
    # fp32 on ARM is fp32 here within rounding; int8 loses as much on both ISAs.
    assert rows["fp32"]["top1_vs_baseline_arm"] == 1.0 and rows["fp32"]["sqnr_db_vs_baseline_arm"] > 80
    assert rows["fp32"]["sqnr_db_vs_baseline_host"] == float("inf")
    arm, host = rows["q"]["sqnr_db_vs_baseline_arm"], rows["q"]["sqnr_db_vs_baseline_host"]
    assert 5 < arm < 60 and abs(arm - host) < 1


def test_class_folders_give_each_file_its_accuracy_on_the_arm_kernels_and_here(tiny_pair, tmp_path, capsys):
    """Ten class folders (TINY has ten classes; the files carry no names, so the sorted folders number
    them), one photo each: the accuracy is that of this host's own predictions, and ARM's is the same."""
    photos = sorted(os.listdir(os.path.join(IMAGENET_SAMPLES, "images")))[:10]
    expected_hits = []
    predict = tflite_runner(tiny_pair[0])
    for index, photo in enumerate(photos):
        os.makedirs(tmp_path / "classes" / f"c{index}")
        shutil.copy(os.path.join(IMAGENET_SAMPLES, "images", photo), tmp_path / "classes" / f"c{index}")
        image, _, _ = load_images([os.path.join(IMAGENET_SAMPLES, "images", photo)], (64, 64))
        expected_hits.append(int(np.argmax(predict(image)[0]) == index))
    argv = [tiny_pair[0], "--cpus", "cortex-a76", "--images", str(tmp_path / "classes"), "--num", "10"]
    assert arm_cost.main([*argv, "--output-dir", str(tmp_path / "out")]) == 0
    assert "| top-1 accuracy (ARM / host) |" in capsys.readouterr().out
    row = json.loads((tmp_path / "out" / "arm_cost.json").read_text())["rows"][0]
    assert row["top1_host"] == row["top1_arm"] == np.mean(expected_hits)


@pytest.mark.parametrize(
    "args, message",
    [
        (["{tmp}/missing.tflite"], "'{tmp}/missing.tflite' does not exist or is not a file."),
        (["{fp32}", "--baseline", "int8"], "--baseline 'int8' is none of the files ['fp32']."),
        (["{fp32}", "x={fp32}", "x={fp32}"], "Two files are named 'x'; name them KEY=PATH."),
        (["{fp32}", "--output-dir", "{fp32}"], "writing it would destroy the input"),
        (["{fp32}", "--images", "{tmp}/none"], "{tmp}/none"),
    ],
)
def test_bad_input_is_one_line(tiny_pair, tmp_path, capsys, args, message):
    fill = {"tmp": str(tmp_path), "fp32": tiny_pair[0]}
    assert arm_cost.main([a.format(**fill) for a in args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("conversion/arm_cost.py: error: ") and err.count("\n") == 1
    assert message.format(**fill) in err


def test_a_missing_environment_is_one_line_with_the_fix(tiny_pair, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SWIFTFORMER_ARM64", str(tmp_path / "none"))
    assert arm_cost.main([tiny_pair[0], "--output-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "The ARM64 emulation environment is not complete" in err and "`make arm64`" in err
    assert not os.path.exists(tmp_path / "out")
