"""The conversion pipeline end to end: a trained model, the result that lands whole or not at all, the checks."""

import errno
import json
import os
import re

import keras
import numpy as np
import pytest

from conftest import TINY
from swiftformer_keras import SwiftFormer
from swiftformer_keras.lite import converter, pipeline
from swiftformer_keras.lite.metadata import read_metadata
from swiftformer_keras.lite.recipe import Recipe
from swiftformer_keras.lite.request import ConversionRequest
from swiftformer_keras.utils import files


def test_int8_of_a_trained_model_keeps_its_predictions(cifar_tflite):
    path, report = cifar_tflite["int8"]  # made once (conftest): the same file the client tests run
    folder = os.path.dirname(path)
    assert report["crop_pct"] == 1.0  # the crop the trained model records
    fid = report["fidelity"]
    print(f"trained TINY 64x64 int8: {fid}")
    assert report["xnnpack_partitions"] == 1 and report["calibration"]["used"] == 64
    assert fid["images"] == 160 and "keras_top1" in fid  # class folders recognised: labels scored
    assert fid["keras_top1"] > 0.4  # a trained model (4 classes: chance is 0.25)
    assert fid["top1_agreement"] >= 0.9
    assert fid["tflite_top1"] >= fid["keras_top1"] - 0.05
    assert fid["sqnr_db"] > 15
    layers = report["debug_layers"]
    assert len(layers) > 50 and all(row["rmse/scale"] >= 0 for row in layers)
    assert layers[0]["rmse/scale"] >= layers[-1]["rmse/scale"]
    with open(os.path.join(folder, "int8.json")) as file:
        assert json.load(file)["fidelity"]["top1_agreement"] == fid["top1_agreement"]
    assert sorted(os.listdir(folder)) == ["int8.json", "int8.md", "int8.tflite"]  # the report, the card


@pytest.mark.parametrize(
    "keyword, value, message",
    [
        ("num_calib", 0, "num_calib must be a whole number >= 1"),
        ("num_eval", 2.5, "num_eval must be a whole number >= 1"),
        ("crop_pct", 0.0, "crop_pct must be a number in (0, 1]"),
        ("crop_pct", 1.01, "crop_pct must be a number in (0, 1]"),
        ("input_size", (16, 64), "multiple of 32"),
    ],
)
def test_numeric_arguments_are_checked_before_any_work(tmp_path, no_conversion, keyword, value, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        pipeline.convert_swiftformer(tmp_path / "x.tflite", variant="XS", weights="random", **{keyword: value})
    assert os.listdir(tmp_path) == []


def test_a_file_needing_a_newer_runtime_is_refused_naming_the_op(tmp_path):
    keras_file = tmp_path / "model" / "tiny.keras"
    keras_file.parent.mkdir()
    SwiftFormer(TINY, input_shape=(64, 64, 3), classifier_activation=None).save(keras_file)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ValueError, match=r"FULLY_CONNECTED v12 needs 2\.17\.0.*--min-runtime 2\.17"):
        pipeline.convert_swiftformer(
            out / "x.tflite", mode="dynamic", keras_model=keras_file, min_runtime="2.14", recipe=Recipe()
        )
    assert os.listdir(out) == []


def test_a_trained_model_is_labelled_with_its_class_folders(cifar_tflite, small_cifar):
    path, report = cifar_tflite["fp32"]
    classes = sorted(os.listdir(os.path.join(small_cifar[0], "train")))
    assert read_metadata(path)["output"]["labels"] == classes
    assert report["labels"] == {
        "source": "class names recorded in model.keras",
        "count": len(classes),
        "first": classes[0],
        "last": classes[-1],
    }


def _tiny_keras(folder, classes=10, activation=None, channels=3):
    path = os.path.join(folder, f"tiny_{classes}_{activation}_{channels}.keras")
    SwiftFormer(TINY, input_shape=(64, 64, channels), classes=classes, classifier_activation=activation).save(path)
    return path


@pytest.fixture
def older_result(cifar_tflite, tmp_path):
    """A complete result `pair.tflite`, `pair.json`, `pair.md` (the trained model's int8 trio), and a
    conversion of the same model to fp32 aimed at it that reuses the fp32 file's bytes instead of
    converting again (the subject is what lands, not the converter)."""
    source = os.path.splitext(cifar_tflite["int8"][0])[0]
    for suffix in (".tflite", ".md"):
        with open(source + suffix, "rb") as file:
            (tmp_path / f"pair{suffix}").write_bytes(file.read())
    with open(source + ".json") as file:
        report = json.load(file)
    report.update(
        file=str(tmp_path / "pair.tflite"), report_file=str(tmp_path / "pair.json"), card_file=str(tmp_path / "pair.md")
    )
    (tmp_path / "pair.json").write_text(json.dumps(report))
    with open(cifar_tflite["fp32"][0], "rb") as file:
        fp32_bytes = file.read()
    return tmp_path, fp32_bytes, {name: (tmp_path / name).read_bytes() for name in os.listdir(tmp_path)}


def _replay(monkeypatch, content):
    monkeypatch.setattr(converter, "tflite_content", lambda *args, **kwargs: content)


def test_the_request_is_resolved_once_and_its_spec_reaches_the_converter_as_it_is(cifar_tflite, tmp_path, monkeypatch):
    with open(cifar_tflite["fp32"][0], "rb") as file:
        content = file.read()
    specs = []
    monkeypatch.setattr(converter, "tflite_content", lambda model, spec, *args, **kwargs: specs.append(spec) or content)
    request = ConversionRequest(str(tmp_path / "x.tflite"), keras_model=cifar_tflite["keras"], card=False)
    pipeline.convert(request)
    assert len(specs) == 1 and specs[0] is request.spec
    assert (request.spec.recipe, request.spec.min_runtime) == (request.recipe, request.min_runtime)


@pytest.mark.parametrize(
    "failure",
    ["unreadable eval images", "Ctrl-C in the latency runs", "full disk at the card", "full disk at the report"],
)
def test_a_failed_run_leaves_the_older_result_intact(older_result, cifar_tflite, monkeypatch, capsys, failure):
    folder, fp32_bytes, before = older_result
    _replay(monkeypatch, fp32_bytes)
    options = {"keras_model": cifar_tflite["keras"]}
    if failure == "unreadable eval images":
        (folder.parent / "broken").mkdir()
        for name in ("a.jpg", "b.png"):
            (folder.parent / "broken" / name).write_bytes(b"not an image")
        options["eval_dir"] = str(folder.parent / "broken")
        expected = ValueError
    elif failure == "Ctrl-C in the latency runs":
        monkeypatch.setattr(pipeline, "measure_latency", lambda *args: (_ for _ in ()).throw(KeyboardInterrupt))
        options["latency_runs"] = 100
        expected = KeyboardInterrupt
    else:
        suffix = ".md" if failure.endswith("card") else ".json"
        write = files.ResultFiles.write

        def full_disk_at(result, destination, writer):
            def no_room(temp):
                raise OSError(errno.ENOSPC, "No space left on device", temp)

            return write(result, destination, no_room if destination.endswith(suffix) else writer)

        monkeypatch.setattr(files.ResultFiles, "write", full_disk_at)
        expected = files.DiskFullError
    with pytest.raises(expected) as raised:
        pipeline.convert_swiftformer(folder / "pair.tflite", **options)
    if expected is files.DiskFullError:  # about the destination, and true: nothing was written
        assert f"while writing pair{suffix}" in str(raised.value) and "Nothing was written" in str(raised.value)
    if failure == "unreadable eval images":
        assert "None of the 2 images tried" in str(raised.value)
        assert "skipped an unreadable image: " in capsys.readouterr().err  # named, not only counted
    after = {name: (folder / name).read_bytes() for name in os.listdir(folder)}
    assert after == before  # the same three files, byte for byte: no temporary, no lock left


def test_a_run_lands_the_file_its_report_and_its_card_together(older_result, cifar_tflite, monkeypatch):
    folder, fp32_bytes, before = older_result
    _replay(monkeypatch, fp32_bytes)
    report = pipeline.convert_swiftformer(folder / "pair.tflite", keras_model=cifar_tflite["keras"])
    assert sorted(os.listdir(folder)) == ["pair.json", "pair.md", "pair.tflite"]
    assert (folder / "pair.tflite").read_bytes() == fp32_bytes
    saved = json.loads((folder / "pair.json").read_text())
    assert saved["mode"] == report["mode"] == "fp32" and saved["file"] == str(folder / "pair.tflite")
    assert saved["input"]["dtype"] == "float32" and "| Mode | fp32 |" in (folder / "pair.md").read_text()


def test_a_run_without_card_removes_the_older_card_of_the_file_it_replaces(
    older_result, cifar_tflite, monkeypatch, capsys
):
    folder, fp32_bytes, _ = older_result
    (folder / "other.json").write_text('{"file": "other.tflite"}')
    _replay(monkeypatch, fp32_bytes)
    pipeline.convert_swiftformer(folder / "pair.tflite", keras_model=cifar_tflite["keras"], card=False)
    assert sorted(os.listdir(folder)) == ["other.json", "pair.tflite"]
    assert "removed " in capsys.readouterr().err


def test_load_keras_model_gives_logits_for_a_softmax_headed_model(tmp_path):
    probabilities = _tiny_keras(str(tmp_path), activation="softmax")
    model, size = pipeline.load_keras_model(keras_model=probabilities)
    reference = keras.models.load_model(probabilities)
    image = np.random.default_rng(0).normal(size=(2, 64, 64, 3)).astype(np.float32)
    logits = model.predict(image, verbose=0)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(keras.ops.softmax(logits)), reference.predict(image, verbose=0), atol=1e-6
    )
    assert size == (64, 64) and not np.allclose(logits.sum(1), 1.0, atol=1e-3)


def test_a_softmax_over_one_logit_is_refused(tmp_path):
    one = _tiny_keras(str(tmp_path), classes=1)
    with pytest.raises(ValueError, match="one-logit head, and a softmax over one class is 1.0 for every input"):
        pipeline.convert_swiftformer(tmp_path / "one.tflite", keras_model=one)
    assert sorted(os.listdir(tmp_path)) == [os.path.basename(one)]


def test_a_grayscale_model_is_told_which_input_type_it_needs(tmp_path):
    gray = _tiny_keras(str(tmp_path), channels=1)
    with pytest.raises(ValueError, match="takes 1-channel images; input_type='float32' normalises 3-channel RGB"):
        pipeline.convert_swiftformer(tmp_path / "g.tflite", keras_model=gray, metadata=False)
    with pytest.raises(ValueError, match="takes 1-channel images, and its metadata would state a 3-channel"):
        pipeline.convert_swiftformer(tmp_path / "g.tflite", keras_model=gray, input_type="normalized")


def test_a_backbone_converts_to_a_features_file_with_metadata_and_no_labels(tmp_path):
    backbone = tmp_path / "backbone.keras"
    SwiftFormer(TINY, include_top=False, pooling="avg", input_shape=(64, 64, 3)).save(backbone)
    out = tmp_path / "out"
    out.mkdir()
    report = pipeline.convert_swiftformer(out / "b.tflite", keras_model=backbone)
    described = read_metadata(out / "b.tflite")
    assert described["output"]["content"] == "features" and described["output"]["labels"] is None
    assert report["signatures"]["serving_default"]["outputs"] == ["features"]
    assert report["output"]["shape"] == [1, 48] and "| Labels | none in the file |" in (out / "b.md").read_text()


def test_the_card_describes_the_file_not_the_flags(cifar_tflite, tmp_path, monkeypatch):
    """A uint8-io int8 file (its output stays float32) without metadata: the card reads the file."""
    with open(cifar_tflite["int8"][0], "rb") as file:
        int8_bytes = file.read()
    _replay(monkeypatch, int8_bytes)  # the trained model's int8 file: float32 in and out, with metadata
    report = pipeline.convert_swiftformer(
        tmp_path / "q.tflite", keras_model=cifar_tflite["keras"], mode="int8", calib_random=True, io="uint8"
    )
    card = (tmp_path / "q.md").read_text()
    assert report["io"] == "uint8" and report["input"]["dtype"] == "float32"  # asked uint8; the file says float32
    assert "| Input | `float32` (1, 64, 64, 3): RGB pixels in [0, 255] as float32" in card
    assert "| Output | `float32` (1, 4): probabilities" in card
    assert "\n# run: int8 TFLite\n" in card  # the metadata's name (the training run), not a local path
    assert str(tmp_path) not in card and "/" not in card.split("\n# ")[1].split("\n")[0]


def test_latency_runs_show_a_progress_bar(cifar_tflite, capsys):
    latency = pipeline.measure_latency(str(cifar_tflite["fp32"][0]), runs=3)
    assert latency["runs"] == 3 and latency["median_ms"] > 0
    assert "latency runs: 100%" in capsys.readouterr().err
