"""The converter: the .tflite file run by the LiteRT interpreter against the Keras model."""

import collections
import dataclasses
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

import keras
import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter, OpResolverType
from tensorflow.lite.python import schema_py_generated as tf_schema

import swiftformer_keras as sfk
from conftest import TINY, tiny_model
from swiftformer_keras.lite import converter, recipe
from swiftformer_keras.lite.calibration import random_images
from swiftformer_keras.lite.converter import convert, export_tflite, tflite_ops
from swiftformer_keras.lite.predictor import tflite_runner
from swiftformer_keras.lite.recipe import FileSpec, Recipe, recipe_for
from swiftformer_keras.lite.report import fidelity, op_table, xnnpack_partitions
from swiftformer_keras.models.architecture import all_layers
from swiftformer_keras.models.random_init import randomize_weights
from swiftformer_keras.utils.files import DiskFullError

DEFAULT_INT8_RECIPE = recipe_for("int8")

# Ops that would betray a layout change or a reshaped attention in an NHWC-native graph.
LAYOUT_OPS = {"TRANSPOSE", "RESHAPE", "GATHER"}
# The builtin op names from TensorFlow's copy of the schema (the converter reads LiteRT's).
BUILTIN_OPS = {name for name in vars(tf_schema.BuiltinOperator) if name.isupper()}


def interpreter_op_counts(path):
    """The op inventory as the LiteRT runtime sees it (no delegate fuses ops away)."""
    interpreter = Interpreter(
        model_path=path, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    )
    interpreter.allocate_tensors()
    return collections.Counter(op["op_name"] for op in interpreter._get_ops_details())


@pytest.fixture(scope="module")
def tiny_export(tmp_path_factory):
    """The tiny model with the current official attention, exported once for several tests."""
    folder = tmp_path_factory.mktemp("tiny")
    model = tiny_model("l2")
    return model, export_tflite(model, str(folder / "tiny.tflite"))


def _check_against_keras(model, path, images, label):
    """Runs the file through the LiteRT runner; returns its op inventory after checking
    the logits, the absence of layout ops and the inventory against the runtime's."""
    expected = keras.ops.convert_to_numpy(model(images, training=False))
    got = tflite_runner(path)(images)
    diff = np.abs(got - expected).max()
    print(f"{label}: max|logit diff| keras vs tflite {diff:.2e} (logit std {expected.std():.2f})")
    assert got.dtype == np.float32 and got.shape == expected.shape
    assert expected.std() > 2.0  # realistic logits, so the bound below means something
    assert diff <= 1e-4
    ops = tflite_ops(path)
    assert ops == interpreter_op_counts(path)
    assert set(ops) <= BUILTIN_OPS - {"CUSTOM", "DELEGATE"}, ops
    assert "TRANSPOSE" not in ops, ops
    return ops


def test_tiny_model_matches_keras(tiny_export):
    model, path = tiny_export
    assert sorted(os.listdir(os.path.dirname(path))) == ["tiny.tflite"]  # no temporary left over
    predict = tflite_runner(path)
    assert predict.image_size == (64, 64) and predict.num_classes == 10
    ops = _check_against_keras(model, path, random_images(4, (64, 64), seed=1), "tiny l2 64x64")
    assert not LAYOUT_OPS & set(ops), ops


def test_token_softmax_attention_matches_keras(tmp_path):
    model = tiny_model("token_softmax")
    path = export_tflite(model, tmp_path / "token.tflite")
    ops = _check_against_keras(model, path, random_images(3, (64, 64), seed=1), "tiny token_softmax 64x64")
    # Softmax over all tokens flattens the (H, W) grid: one reshape there and one back per
    # attention block. The published formulations need none (the other tests).
    assert ops["RESHAPE"] == 2 * len(TINY["depths"])  # one attention block per stage
    assert not (LAYOUT_OPS - {"RESHAPE"}) & set(ops), ops


def test_xs_224_matches_keras_with_builtin_nhwc_ops_only(tmp_path):
    model = randomize_weights(sfk.SwiftFormerXS(classifier_activation=None))
    path = export_tflite(model, tmp_path / "xs.tflite")
    interpreter = Interpreter(model_path=str(path))
    (detail,) = interpreter.get_input_details()
    assert tuple(detail["shape"]) == (1, 224, 224, 3) and detail["dtype"] == np.float32
    assert tuple(interpreter.get_output_details()[0]["shape"]) == (1, 1000)

    ops = _check_against_keras(model, path, random_images(2, (224, 224), seed=1), "XS 224x224")
    print(f"XS 224x224 op inventory: {dict(ops.most_common())}")
    assert not LAYOUT_OPS & set(ops), ops
    # One convolution per conv layer of the Keras model: nothing was split or duplicated.
    convs = sum(isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)) for layer in all_layers(model))
    assert ops["CONV_2D"] + ops["DEPTHWISE_CONV_2D"] == convs


def test_dynamic_model_needs_a_size_and_exports_non_square(tmp_path):
    # The first-release ("softmax") formulation, that of the ImageNet hub weights.
    model = tiny_model("softmax", input_shape=(None, None, 3))
    with pytest.raises(ValueError, match=r"input_shape=\(height, width\)"):
        export_tflite(model, tmp_path / "dynamic.tflite")
    assert os.listdir(tmp_path) == []

    path = export_tflite(model, tmp_path / "wide.tflite", input_shape=(96, 128))
    assert tflite_runner(path).image_size == (96, 128)
    ops = _check_against_keras(model, path, random_images(2, (96, 128), seed=1), "tiny softmax 96x128")
    assert not LAYOUT_OPS & set(ops), ops


def test_bad_sizes_and_destinations_are_refused(tmp_path, tiny_export):
    model, _ = tiny_export
    with pytest.raises(ValueError, match="disagrees with model"):
        export_tflite(model, tmp_path / "x.tflite", input_shape=(96, 96))
    with pytest.raises(ValueError, match="positive ints"):
        export_tflite(model, tmp_path / "x.tflite", input_shape=(64,))
    with pytest.raises(ValueError, match="must end in .tflite"):
        export_tflite(model, tmp_path / "x.lite")
    missing = tmp_path / "missing" / "x.tflite"
    with pytest.raises(ValueError, match="does not exist"):
        export_tflite(model, missing)
    assert os.listdir(tmp_path) == []
    distilled = sfk.SwiftFormer(TINY, input_shape=(64, 64, 3), distillation_outputs=True)
    with pytest.raises(ValueError, match="distillation_outputs=False"):
        export_tflite(distilled, tmp_path / "x.tflite")


class _Erfinv(keras.layers.Layer):
    """An op TFLite has no builtin kernel for: conversion would need the Flex delegate."""

    def call(self, x):
        return keras.ops.erfinv(keras.ops.tanh(x))


def test_ops_outside_the_builtin_set_fail_loudly_and_keep_the_old_file(tmp_path):
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, _Erfinv()(keras.layers.Conv2D(4, 3)(inputs)))
    destination = tmp_path / "model.tflite"
    destination.write_bytes(b"previous export")
    with pytest.raises(ValueError, match=r"Erfinv.*SELECT_TF_OPS"):
        export_tflite(model, destination)
    assert os.listdir(tmp_path) == ["model.tflite"]
    assert destination.read_bytes() == b"previous export"


def _fidelity(model, path, images):
    return fidelity(keras.ops.convert_to_numpy(model(images, training=False)), tflite_runner(path)(images))


@pytest.fixture(scope="module")
def tiny_int8(tmp_path_factory):
    model = tiny_model("l2")
    path = export_tflite(
        model,
        tmp_path_factory.mktemp("int8") / "tiny_int8.tflite",
        mode="int8",
        calibration=random_images(32, (64, 64), seed=5),
    )
    return model, path


def test_int8_is_one_xnnpack_partition_with_only_the_norm_tail_in_float(tiny_int8):
    model, path = tiny_int8
    rows = op_table(path)
    float_compute = {r["op"] for r in rows if r["output_dtype"] == "float32"} - {"DEQUANTIZE"}
    assert float_compute == set(DEFAULT_INT8_RECIPE.float_ops) - {"SOFTMAX"}  # logits: no softmax to keep
    assert "GELU" not in {r["op"] for r in rows} and "LOGISTIC" in {r["op"] for r in rows}
    assert {r["output_dtype"] for r in rows if r["op"] in ("CONV_2D", "PAD")} == {"int8"}
    assert xnnpack_partitions(path) == 1
    # Held-out inputs, not the calibration ones; the bound is loose for random weights
    # (the trained-model accuracy test is in test_pipeline.py).
    result = _fidelity(model, path, random_images(16, (64, 64), seed=9))
    print(f"tiny int8 vs keras: {result}")
    assert result["sqnr_db"] > 20 and result["cosine_similarity"] > 0.99


def test_int8_io_types_and_the_runner_quantizes_for_them(tmp_path, tiny_int8):
    model, float_io = tiny_int8
    calibration = random_images(32, (64, 64), seed=5)
    images = random_images(4, (64, 64), seed=9)
    reference = tflite_runner(float_io)(images)
    for io, dtype in (("int8", np.int8), ("uint8", np.uint8)):
        path = export_tflite(model, tmp_path / f"{io}.tflite", mode="int8", calibration=calibration, io=io)
        interpreter = Interpreter(model_path=str(path))
        assert interpreter.get_input_details()[0]["dtype"] == dtype
        assert interpreter.get_output_details()[0]["dtype"] == dtype
        got = tflite_runner(path)(images)
        scale = interpreter.get_output_details()[0]["quantization"][0]
        # Same quantized graph; only the input and output rounding differ.
        assert np.abs(got - reference).max() <= 3 * scale + 0.05 * np.abs(reference).max()


def test_fp16_and_dynamic_stay_close_to_keras_and_shrink_the_file(tmp_path, tiny_export):
    model, fp32 = tiny_export
    images = random_images(4, (64, 64), seed=3)
    sizes = {"fp32": os.path.getsize(fp32)}
    for mode, bound in (("fp16", 1e-2), ("dynamic", 0.15)):
        path = export_tflite(model, tmp_path / f"{mode}.tflite", mode=mode)
        sizes[mode] = os.path.getsize(path)
        result = _fidelity(model, path, images)
        print(f"tiny {mode}: relative error max {result['relative_error_max']:.2e}, size {sizes[mode]}")
        assert result["relative_error_max"] <= bound
        assert set(tflite_ops(path)) <= BUILTIN_OPS - {"CUSTOM", "DELEGATE"}
    # Tensors under 1024 values stay float32 in both modes, so a tiny model shrinks less than 2x and 4x.
    print(f"tiny sizes: {sizes}")
    assert sizes["fp16"] < 0.7 * sizes["fp32"] and sizes["dynamic"] < 0.5 * sizes["fp32"]


def test_bad_modes_and_calibration_are_refused(tmp_path, tiny_export):
    model, _ = tiny_export
    with pytest.raises(ValueError, match="Unknown mode 'int4'"):
        export_tflite(model, tmp_path / "x.tflite", mode="int4")
    with pytest.raises(ValueError, match="needs calibration images"):
        export_tflite(model, tmp_path / "x.tflite", mode="int8")
    with pytest.raises(ValueError, match=r"shape \(2, 32, 32, 3\)"):
        export_tflite(model, tmp_path / "x.tflite", mode="int8", calibration=random_images(2, (32, 32), seed=1))
    with pytest.raises(ValueError, match=r"io='int8' \(--io int8\) applies to int8 files only"):
        export_tflite(model, tmp_path / "x.tflite", mode="fp16", io="int8")
    with pytest.raises(ValueError, match="Unknown io type 'int16'"):
        export_tflite(
            model, tmp_path / "x.tflite", mode="int8", io="int16", calibration=random_images(2, (64, 64), seed=1)
        )
    with pytest.raises(ValueError, match=r"Unknown TFLite op types \['SQRTT'\]"):
        export_tflite(
            model,
            tmp_path / "x.tflite",
            mode="int8",
            calibration=random_images(2, (64, 64), seed=1),
            recipe=Recipe(float_ops=["SQRTT"]),
        )
    assert os.listdir(tmp_path) == []


def test_a_file_spec_is_taken_as_it_is_resolved(tiny_export, monkeypatch):
    """The request resolves its spec once; the converter neither checks nor resolves it again."""
    spec = FileSpec("fp16", min_runtime="2.16")

    def again(*args, **kwargs):
        raise AssertionError("resolved again")

    monkeypatch.setattr(recipe, "recipe_for", again)
    monkeypatch.setattr(recipe, "check_recipe", again)
    monkeypatch.setattr(FileSpec, "__post_init__", again)
    assert convert(tiny_export[0], spec, beside=None)[4:8] == b"TFL3"
    monkeypatch.undo()
    with pytest.raises(ValueError, match=r"spec must be a recipe.FileSpec, e.g. FileSpec\(mode='int8'\), got 'int8'"):
        convert(tiny_export[0], "int8")


def test_selective_quantization_keeps_the_chosen_ops_in_float(tmp_path, tiny_export):
    model, _ = tiny_export
    litert_recipe = recipe_for("int8", "2.17")  # the one whose attention sums are SUM ops
    recipe = dataclasses.replace(litert_recipe, float_ops=[*litert_recipe.float_ops, "SUM"], float_first_conv=False)
    path = export_tflite(
        model, tmp_path / "sel.tflite", mode="int8", calibration=random_images(8, (64, 64), seed=1), recipe=recipe
    )
    rows = op_table(path)
    assert {r["op"] for r in rows if r["output_dtype"] == "float32"} - {"DEQUANTIZE"} == {"RSQRT", "MAXIMUM", "SUM"}
    assert xnnpack_partitions(path) == 1


# --- issue 10: the SavedModel temporary is a recognisable partial, swept when stale -----------------


def _dead_pid():
    done = subprocess.Popen(["true"])
    done.wait()
    return done.pid


def _stale_partial(folder, name):
    stale = folder / f".{name}.partial-{_dead_pid()}-0123abcd"
    stale.mkdir()
    (stale / "saved_model.pb").write_bytes(bytes(1000))
    return stale


def test_a_conversion_sweeps_stale_temporaries_and_leaves_umask_permissions(tmp_path, tiny_export, monkeypatch):
    model, _ = tiny_export
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    stale_temp = _stale_partial(temp, "swiftformer_savedmodel")
    assert convert(model)[4:8] == b"TFL3"
    assert not stale_temp.exists()
    assert not [name for name in os.listdir(temp) if "savedmodel" in name], os.listdir(temp)

    out = tmp_path / "out"
    out.mkdir()
    stale_out = _stale_partial(out, "x.tflite.savedmodel")
    umask = os.umask(0o022)
    try:
        path = export_tflite(model, out / "x.tflite")
    finally:
        os.umask(umask)
    assert os.listdir(out) == ["x.tflite"] and not stale_out.exists()
    assert os.stat(path).st_mode & 0o777 == 0o644
    assert not [name for name in os.listdir(temp) if "savedmodel" in name]


def test_kill_9_leaves_a_temporary_that_the_next_conversion_removes(tmp_path):
    temp, out = tmp_path / "temp", tmp_path / "out"
    temp.mkdir()
    out.mkdir()
    script = (
        "import keras, swiftformer_keras as sfk\n"
        "from swiftformer_keras.lite.converter import export_tflite\n"
        f"model = sfk.SwiftFormer({TINY!r}, classes=10, classifier_activation=None, input_shape=(64, 64, 3))\n"
        f"export_tflite(model, {str(out / 'x.tflite')!r})\n"
    )
    env = {**os.environ, "TMPDIR": str(temp), "TF_CPP_MIN_LOG_LEVEL": "3"}
    child = subprocess.Popen([sys.executable, "-c", script], env=env)
    deadline = time.monotonic() + 300

    def savedmodels():
        return [e for folder in (temp, out) for e in os.scandir(folder) if e.is_dir() and "savedmodel" in e.name]

    while not savedmodels() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    left = savedmodels()
    assert [e.name.split(".partial-")[0] for e in left] == [".x.tflite.savedmodel"], [e.path for e in left]
    assert os.path.dirname(left[0].path) == str(out)  # beside the output, not in $TMPDIR

    export_tflite(tiny_model(), str(out / "x.tflite"))
    assert os.listdir(out) == ["x.tflite"]


def test_a_full_temporary_folder_is_one_disk_full_error(full_disk, tiny_export, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(full_disk))
    with pytest.raises(DiskFullError, match="no space left on the device of"):
        convert(tiny_export[0])
    assert os.listdir(full_disk) == [".filler"]


@pytest.mark.parametrize(
    "options, message",
    [
        ({"input_type": "rgb"}, "Unknown input type 'rgb'; use one of"),
        ({"labels": "airplane"}, "labels must be a sequence of class names (strings), got 'airplane'"),
        ({"labels": ["cat"] * 9 + ["a\u2028b"]}, "name 10 'a\\u2028b' holds the control character"),
    ],
)
def test_bad_metadata_arguments_are_clear_errors_before_the_conversion(tmp_path, monkeypatch, options, message):
    monkeypatch.setattr(converter, "convert", lambda *args, **kwargs: pytest.fail("the conversion started"))
    with pytest.raises(ValueError, match=re.escape(message)):
        export_tflite(tiny_model(), tmp_path / "x.tflite", **options)
    assert os.listdir(tmp_path) == []
