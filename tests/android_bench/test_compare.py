"""android_bench/compare.py end to end on XS with few runs (speed ratios live in its output)."""

import argparse
import importlib.util
import json
import os
import re
import zipfile

import numpy as np
import pytest
from PIL import Image

from android_bench import compare, routes, torch_reference
from conftest import TINY
from swiftformer_keras.models.architecture import variant_name


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    for i in range(8):
        Image.fromarray(np.random.default_rng(i).integers(0, 255, (80, 72, 3), dtype=np.uint8)).save(
            folder / f"{i}.png"
        )
    return folder


def test_every_route_runs_on_the_same_weights_and_the_tables_are_written(photos, tmp_path, capsys):
    out = tmp_path / "out"
    code = compare.main(
        [
            "--variants",
            "XS",
            "--input-size",
            "64",
            "64",
            "--calib-dir",
            str(photos),
            "--num-calib",
            "8",
            # ExecuTorch's routes are tested on the trained model, below.
            "--runs",
            "3",
            "--warmup",
            "1",
            "--output-dir",
            str(out),
            "--executorch",
            "none",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "| XS | ours TFLite int8 |" in printed and "ExecuTorch" not in printed
    assert "Ratios measured in this run" in printed and "XS: ours fp32 / ORT fp32 " in printed
    with open(out / "compare.json") as file:
        result = json.load(file)
    rows = {row["route"]: row for row in result["rows"]}
    assert {routes.TORCH, routes.OURS_FP32, routes.OURS_INT8, routes.ORT_FP32, routes.ORT_INT8} <= set(rows)
    # One set of weights: the float routes agree with PyTorch; the int8 ones predict alike.
    for name in (routes.OURS_FP32, routes.ORT_FP32):
        assert rows[name]["max_abs_diff_vs_pytorch"] < 1e-4
    for name in (routes.OURS_FP32, routes.OURS_INT8, routes.ORT_FP32, routes.ORT_INT8):
        row = rows[name]
        assert 0 < row["p5_ms"] <= row["median_ms"] <= row["p95_ms"] and row["size_mb"] > 0 and row["ops"] > 0
    # Our NHWC-native graph has no TRANSPOSE; the NCHW export does. The int8 recipe transposes one
    # (tokens, channels) tensor per attention block (4 in XS) to sum its tokens by a matmul.
    assert rows[routes.OURS_FP32]["transposes"] == 0 and rows[routes.OURS_INT8]["transposes"] == 4
    assert rows[routes.ORT_FP32]["transposes"] > 0
    assert rows[routes.OURS_INT8]["vs_ours_fp32"] == pytest.approx(
        rows[routes.OURS_INT8]["median_ms"] / rows[routes.OURS_FP32]["median_ms"]
    )
    # litert-torch is not in the project's environment: its row says so instead of vanishing.
    litert = rows[routes.LITERT_TORCH]
    assert litert["status"] == "failed" and "litert-torch is not installed" in litert["reason"]
    (target,) = result["targets"]
    assert set(target) == {
        "variant",
        "ours fp32 faster than ORT fp32",
        "ours int8 <= 0.5x ORT fp32",
        "ours int8 faster than ORT int8",
    }
    (ratio,) = result["ratios"]
    assert ratio["ours int8 / ORT int8"] == pytest.approx(
        rows[routes.OURS_INT8]["median_ms"] / rows[routes.ORT_INT8]["median_ms"]
    )
    assert os.path.getsize(out / "compare.png") > 0 and os.path.exists(out / "compare.csv")
    page = (out / "compare.md").read_text()  # its results page: the command, the table, the chart
    assert page.startswith("# Every way to run SwiftFormer, side by side\n\nMeasured on 20")
    assert "python android_bench/compare.py " in page and "(compare.png)" in page and "| " in page


def test_a_trained_keras_model_runs_in_every_route_and_is_scored(trained_run, small_cifar, tmp_path, capsys):
    """The trained weights go into the PyTorch reference; every route is scored on the test split."""
    data = small_cifar[0]
    out = tmp_path / "out"
    code = compare.main(
        [
            "--keras-model",
            str(trained_run[0] / "model.keras"),
            "--calib-dir",
            os.path.join(data, "train"),
            "--num-calib",
            "32",
            "--eval-dir",
            os.path.join(data, "test"),
            "--crop-pct",
            "1.0",
            "--runs",
            "3",
            "--warmup",
            "1",
            "--output-dir",
            str(out),
            "--executorch",
            "fp32",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    label = variant_name(TINY["depths"], TINY["widths"]).removeprefix("SwiftFormer-") + " 64x64 (model.keras)"
    assert f"| {label} | ours TFLite int8 |" in printed and "top-1 |" in printed
    with open(out / "compare.json") as file:
        rows = {row["route"]: row for row in json.load(file)["rows"]}
    test_images = sum(len(files) for _, _, files in os.walk(os.path.join(data, "test")))
    torch_top1 = rows[routes.TORCH]["top1"]
    assert torch_top1 > 0.5  # 4 classes: chance is 0.25, so the trained weights did reach PyTorch
    for name in (routes.OURS_FP32, routes.ORT_FP32):
        row = rows[name]
        assert row["checked_images"] == test_images
        assert row["max_abs_diff_vs_pytorch"] < 1e-4 and row["top1_agreement_vs_pytorch"] == 1.0
        assert row["top1"] == torch_top1
    for name in (routes.OURS_INT8, routes.ORT_INT8):
        assert abs(rows[name]["top1"] - torch_top1) <= 0.1
    # ExecuTorch's fp32 programs (int8: tests/android_bench/test_executorch_export.py, as its lowering takes longer).
    assert routes.ET_INT8 not in rows
    as_exported, rewritten = rows[routes.ET_FP32], rows[routes.ET_FP32_REWRITTEN]
    if importlib.util.find_spec("executorch") is None:  # not in this environment: the rows say so
        assert as_exported["status"] == rewritten["status"] == "failed"
        assert "executorch is not installed" in as_exported["reason"]
        return
    for row in (as_exported, rewritten):
        assert f"| {label} | {row['route']} |" in printed
        assert row["status"] == "ok" and row["checked_images"] == test_images and row["median_ms"] > 0
        assert row["max_abs_diff_vs_pytorch"] < 1e-4 and row["top1"] == torch_top1
    # XNNPACK lacks kernels for ops of transformers' attention and head; the rewrite needs none of them.
    assert as_exported["partitions"] > 1 and {"pow.Tensor_Scalar", "sum.dim_IntList"} <= set(as_exported["ops_outside"])
    assert rewritten["partitions"] == 1 and rewritten["ops_outside"] == {}


def test_bad_arguments(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        compare.main(["--variants", "XL", "--calib-dir", str(tmp_path)])
    assert exit_info.value.code == 2 and "unknown variants ['XL']" in capsys.readouterr().err
    assert compare.main(["--variants", "XS", "--calib-dir", str(tmp_path / "none"), "--output-dir", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        compare.main(["--variants", "XS", "--keras-model", "m.keras", "--calib-dir", str(tmp_path)])
    assert "not both" in capsys.readouterr().err
    assert (
        compare.main(
            ["--keras-model", str(tmp_path / "m.keras"), "--calib-dir", str(tmp_path), "--output-dir", str(tmp_path)]
        )
        == 2
    )
    assert "m.keras' does not exist" in capsys.readouterr().err


# --- issue 25: every flag checked before any model is built, in one line --------------------------


@pytest.fixture
def no_models(monkeypatch):
    """Fails the test if the (slow) model building starts: the refusal must come first."""
    monkeypatch.setattr(compare, "_models", lambda *a, **k: pytest.fail("the models were built before the checks"))


def _refused(args, capsys):
    """The one error line of a refused run (exit 2 by `cli.run`, or by the parser's SystemExit)."""
    try:
        code = compare.main(args)
    except SystemExit as exit_info:
        code = exit_info.code
    captured = capsys.readouterr()
    assert code == 2 and captured.out == "" and captured.err.count("\n") == 1, captured
    assert captured.err.startswith("android_bench/compare.py: error: ")
    return captured.err.strip()


@pytest.mark.parametrize(
    "extra, message",
    [
        # --runs 0 ended in an IndexError after minutes of exports.
        (["--runs", "0"], "argument --runs: must be a whole number >= 1, got '0'"),
        (["--warmup", "-1"], "argument --warmup: must be a whole number >= 0, got '-1'"),
        (["--num-calib", "0"], "argument --num-calib: must be a whole number >= 1, got '0'"),
        (["--num-eval", "0"], "argument --num-eval: must be a whole number >= 1, got '0'"),
        (["--threads", "0"], "argument --threads: must be a whole number in [1, 2147483647], got '0'"),
        (["--threads", "inf"], "argument --threads: must be a whole number in [1, 2147483647], got 'inf'"),
        (["--crop-pct", "nan"], "argument --crop-pct: must be a number in (0, 1], got 'nan'"),
        (["--input-size", "0", "0"], "argument --input-size: must be a whole number >= 64, got '0'"),
        (["--input-size", "100", "100"], "--input-size: Image size (100, 100) is not supported"),
        (["--litert-torch-python", "/nonexistent/python"], "--litert-torch-python '/nonexistent/python' is not"),
        (["--keras-model", "absent.keras"], "--keras-model 'absent.keras' does not exist"),
        (["--variantz", "XS"], "unrecognized arguments: --variantz XS; see --help"),
    ],
)
def test_bad_flags_are_one_line_before_any_model_is_built(extra, message, photos, tmp_path, capsys, no_models):
    args = ["--calib-dir", str(photos), "--output-dir", str(tmp_path / "out"), *extra]
    if "--keras-model" not in extra:
        args = ["--variants", "XS", *args]
    assert message in _refused(args, capsys)
    assert not (tmp_path / "out").exists()


def test_compare_model_refuses_zero_runs_before_the_exports(monkeypatch):
    monkeypatch.setattr(compare, "export_ours", lambda *a, **k: pytest.fail("the exports started"))
    monkeypatch.setattr(compare, "build_routes", lambda *a, **k: pytest.fail("the exports started"))
    with pytest.raises(ValueError, match=re.escape("runs must be a whole number >= 1, got 0")):
        compare.compare_model("XS", None, np.zeros((1, 64, 64, 3), np.float32), "folder", 1, 0, 1, (64, 64))


def test_outputs_inside_an_input_folder_are_refused(photos, tmp_path, capsys, no_models):
    inside = photos / "results"
    line = _refused(["--variants", "XS", "--calib-dir", str(photos), "--output-dir", str(inside)], capsys)
    assert f"--output-dir '{inside}' lies inside the input folder --calib-dir" in line
    assert not inside.exists()


def test_eval_folders_partly_named_after_the_models_classes_are_refused(tmp_path, capsys, no_models):
    from swiftformer_keras.utils.images import record_model_facts

    model = tmp_path / "trained.keras"
    with zipfile.ZipFile(model, "w") as archive:  # only its record is read before the model loads
        archive.writestr("placeholder", "")
    record_model_facts(model, class_names=["airplane", "automobile", "cat"])
    for folder in ("airplane", "kitten"):
        (tmp_path / "eval" / folder).mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(tmp_path / "eval" / folder / "0.png")
    line = _refused(
        [
            "--keras-model",
            str(model),
            "--calib-dir",
            str(tmp_path / "eval"),
            "--eval-dir",
            str(tmp_path / "eval"),
            "--output-dir",
            str(tmp_path / "out"),
        ],
        capsys,
    )
    assert "The class folders ['kitten']" in line and "not class names of the model" in line


def test_a_softmax_headed_keras_model_is_compared_by_its_logits(tmp_path):
    """Its twin that ends in logits gives the same comparison: PyTorch's logits, not probabilities."""
    from swiftformer_keras.applications import SwiftFormer
    from swiftformer_keras.models.random_init import randomize_weights

    logits = randomize_weights(SwiftFormer(TINY, classes=10, classifier_activation=None, input_shape=(64, 64, 3)))
    softmax = SwiftFormer(TINY, classes=10, classifier_activation="softmax", input_shape=(64, 64, 3))
    softmax.set_weights(logits.get_weights())
    images = np.random.default_rng(0).normal(size=(2, 64, 64, 3)).astype("float32")
    assert np.allclose(softmax.predict(images, verbose=0).sum(1), 1.0)  # the twin does end in a softmax
    compared = {}
    for name, model in (("logits", logits), ("softmax", softmax)):
        model.save(tmp_path / f"{name}.keras")
        args = argparse.Namespace(keras_model=str(tmp_path / f"{name}.keras"), input_size=None)
        (tmp_path / name).mkdir()
        ((_, shared, size),) = compare._models(args, [], str(tmp_path / name))
        ours = shared.model.predict(images, verbose=0)
        pytorch = torch_reference.predictor(shared.reference)(images)
        assert size == (64, 64) and np.abs(ours - pytorch).max() < 1e-4, name
        compared[name] = ours
    np.testing.assert_array_equal(compared["softmax"], compared["logits"])
