"""conversion/to_tflite.py and convert_swiftformer: a trained model end to end, and bad input."""

import json
import os

import keras
import pytest

from conftest import load_script
from swiftformer_keras import conversion


def _cli():
    return load_script("conversion/to_tflite.py")


@pytest.fixture(scope="module")
def trained(small_cifar, trained_run):
    """XS at 64x64 trained for 4 epochs on the 4-class subset (conftest): real weights to quantize."""
    return small_cifar[0], os.path.join(trained_run[0], "model.keras")


def test_int8_of_a_trained_model_keeps_its_predictions(trained, tmp_path):
    data, keras_file = trained
    report = conversion.convert_swiftformer(
        tmp_path / "int8.tflite", mode="int8", keras_model=keras_file,
        calib_dir=os.path.join(data, "train"), num_calib=64,
        eval_dir=os.path.join(data, "test"), num_eval=160, crop_pct=1.0,
        debug=True, report_path=tmp_path / "int8.json",
    )
    fid = report["fidelity"]
    print(f"trained XS 64x64 int8: {fid}")
    assert report["xnnpack_partitions"] == 1 and report["calibration"]["used"] == 64
    assert fid["images"] == 160 and "keras_top1" in fid  # class folders recognised: labels scored
    assert fid["keras_top1"] > 0.4  # a trained model (4 classes: chance is 0.25)
    assert fid["top1_agreement"] >= 0.9
    assert fid["tflite_top1"] >= fid["keras_top1"] - 0.05
    assert fid["sqnr_db"] > 15
    layers = report["debug_layers"]
    assert len(layers) > 50 and all(row["rmse/scale"] >= 0 for row in layers)
    assert layers[0]["rmse/scale"] >= layers[-1]["rmse/scale"]
    with open(tmp_path / "int8.json") as file:
        assert json.load(file)["fidelity"]["top1_agreement"] == fid["top1_agreement"]
    assert sorted(os.listdir(tmp_path)) == ["int8.json", "int8.tflite"]


def test_cli_fp16_of_a_variant_prints_and_writes_the_report(tmp_path, capsys):
    output, report = tmp_path / "xs_fp16.tflite", tmp_path / "xs_fp16.json"
    code = _cli().main([
        "--model", "XS", "--weights", "random", "--input-size", "64", "96", "--fp16",
        "--output", str(output), "--report", str(report),
    ])
    assert code == 0
    printed = capsys.readouterr().out
    assert "| xnnpack_partitions | 1 |" in printed and f"wrote {output}" in printed
    with open(report) as file:
        saved = json.load(file)
    assert saved["mode"] == "fp16" and saved["input"]["shape"] == [1, 64, 96, 3]
    assert saved["nnapi_refuses"] == {"GELU/float32": "no NNAPI case for this op"}


def test_cli_calib_random_is_explicit_and_recorded(tmp_path, capsys):
    output = tmp_path / "noise.tflite"
    code = _cli().main([
        "--model", "XS", "--weights", "random", "--input-size", "64", "64", "--int8", "--calib-random",
        "--num-calib", "4", "--io", "uint8", "--output", str(output), "--report", str(tmp_path / "r.json"),
    ])
    assert code == 0
    with open(tmp_path / "r.json") as file:
        saved = json.load(file)
    assert saved["calibration"]["source"].startswith("random") and saved["input"]["dtype"] == "uint8"


def _not_swiftformer(path):
    inputs = keras.Input((64, 64, 3))
    keras.Model(inputs, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(inputs))).save(path)
    return path


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "XS", "--weights", "random", "--int8"], "int8 needs calibration images: pass --calib-dir"),
        (["--model", "XL", "--weights", "random"], "Unknown model 'XL'"),
        (["--model", "XS", "--weights", "random", "--input-size", "100", "64"], "multiple of 32"),
        (["--model", "XS", "--weights", "random", "--output", "{tmp}/missing/x.tflite"], "does not exist; create it"),
        (["--model", "XS", "--weights", "random", "--output", "{tmp}/x.onnx"], "must end in .tflite"),
        (["--keras-model", "{tmp}/plain.keras"], "not a SwiftFormer"),
        (["--keras-model", "{tmp}/nothing.keras"], "does not exist"),
        (["--model", "XS", "--weights", "random", "--int8", "--calib-dir", "{tmp}/empty"], "holds no .jpg"),
        (["--model", "XS", "--weights", "random", "--eval-dir", "{tmp}/missing"], "does not exist or is not a directory"),
        (["--model", "XS", "--weights", "random", "--debug"], "use it with --int8"),
        (["--model", "XS", "--weights", "{tmp}/nothing.weights.h5"], "does not exist"),
    ],
)
def test_bad_input_is_a_clear_error_and_leaves_no_file(tmp_path, capsys, args, message):
    work = tmp_path / "work"
    work.mkdir()
    (work / "empty").mkdir()
    (work / "empty" / "readme.txt").write_text("no images here")
    _not_swiftformer(str(work / "plain.keras"))
    before = sorted(os.listdir(work))
    args = [a.replace("{tmp}", str(work)) for a in args]
    if "--output" not in args:
        args += ["--output", str(work / "out.tflite")]
    assert _cli().main(args) == 2
    assert message in capsys.readouterr().err
    assert sorted(os.listdir(work)) == before
