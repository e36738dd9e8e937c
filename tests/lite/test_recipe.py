"""Export recipes: values chosen per mode and --min-runtime, applied the same way by the
shipped conversion and by --debug."""

import dataclasses
import json
import re

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.lite.python import convert as tf_convert

from conftest import TINY, tiny_model
from swiftformer_keras import SwiftFormer, to_tflite
from swiftformer_keras.lite.calibration import random_images
from swiftformer_keras.lite.converter import export_tflite
from swiftformer_keras.lite.interpreter import make_interpreter, nodes
from swiftformer_keras.lite.recipe import (
    DEFAULT_MIN_RUNTIME,
    MODES,
    RECIPES,
    FileSpec,
    Recipe,
    first_conv_path,
    recipe_for,
)
from swiftformer_keras.lite.report import op_table, xnnpack_partitions
from swiftformer_keras.lite.runtime_versions import op_versions
from swiftformer_keras.models import layers as sf
from swiftformer_keras.models.architecture import all_layers
from swiftformer_keras.models.random_init import randomize_weights

DEFAULT_INT8_RECIPE = recipe_for("int8")


def test_a_recipe_is_a_frozen_hashable_value_that_round_trips():
    recipe = Recipe(activation="quick_gelu", float_ops=["RSQRT", "MAXIMUM", "SUM"], per_channel=False)
    assert recipe.float_ops == ("RSQRT", "MAXIMUM", "SUM")  # a list is stored as a tuple
    with pytest.raises(dataclasses.FrozenInstanceError):
        recipe.float_ops = ()
    same = Recipe("quick_gelu", None, ("RSQRT", "MAXIMUM", "SUM"), per_channel=False)
    assert len({recipe, same, DEFAULT_INT8_RECIPE}) == 2
    saved = json.loads(json.dumps(recipe.as_dict()))
    assert saved == {
        "activation": "quick_gelu",
        "reductions": None,
        "float_ops": ["RSQRT", "MAXIMUM", "SUM"],
        "per_channel": False,
        "per_channel_dense": True,
        "float_first_conv": False,
        "fp16_arithmetic": False,
    }
    assert Recipe.from_dict(saved) == recipe
    assert Recipe().activation_text == "as in the Keras model"
    for bad in (
        {"activation": "relu"},
        {"reductions": "max"},
        {"float_ops": "RSQRT"},
        {"float_ops": [1]},
        {"per_channel": "yes"},
        {"per_channel_dense": 1},
        {"float_first_conv": "yes"},
    ):
        with pytest.raises(ValueError):
            Recipe(**bad)


def test_a_file_spec_checks_its_values_together_and_resolves_the_recipe_once():
    spec = FileSpec("int8", io="uint8", min_runtime=2.16)  # a number reads as the version it spells
    assert (spec.min_runtime, spec.recipe, spec.input_type) == ("2.16", recipe_for("int8", "2.16"), "normalized")
    assert FileSpec().recipe == recipe_for("fp32") and FileSpec().min_runtime == DEFAULT_MIN_RUNTIME["fp32"]
    own = Recipe(activation="gelu_tanh")
    assert FileSpec("fp16", recipe=own).recipe is own and FileSpec("fp16", recipe=own) == FileSpec("fp16", recipe=own)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.mode = "fp32"
    for values, message in (
        ({"mode": "int4"}, "Unknown mode 'int4'"),
        ({"io": "int16", "mode": "int8"}, "Unknown io type 'int16'"),
        ({"io": "int8", "mode": "fp16"}, "io='int8' (--io int8) applies to int8 files only; fp16 files"),
        ({"input_type": "rgb"}, "Unknown input type 'rgb'"),
        ({"mode": "int8", "io": "int8", "input_type": "uint8"}, "input_type='uint8' (--input-type uint8) takes camera"),
        ({"min_runtime": "2.11"}, "Unsupported --min-runtime '2.11'"),
        ({"min_runtime": ["2.14"]}, "min_runtime must be a version such as '2.14'"),
        ({"mode": "int8", "recipe": Recipe(float_ops=["SQRTT"])}, "Unknown TFLite op types ['SQRTT']"),
    ):
        with pytest.raises(ValueError, match=re.escape(message)):
            FileSpec(**values)


def test_the_table_picks_a_recipe_per_mode_and_runtime():
    # SOFTMAX stays float in both: XNNPACK has no int8 softmax (a probabilities file stays one partition).
    assert recipe_for("int8", "2.21") == Recipe("quick_gelu", None, ("RSQRT", "MAXIMUM", "SOFTMAX"))
    assert (
        DEFAULT_INT8_RECIPE
        == recipe_for("int8", "2.14")
        == Recipe("quick_gelu", "matmul", ("SQRT", "MAXIMUM", "DIV", "SOFTMAX"))
    )
    # The first convolution is int8 in both (fewer instructions on the phones' cores: docs/arm.md).
    assert not any(recipes["int8"].float_first_conv for _, recipes in RECIPES)
    # Before 2.17 no dynamic dense layer is per-channel (FULLY_CONNECTED v12), float GELU is the quick form.
    for mode in MODES:
        assert recipe_for(mode, "2.12") == recipe_for(mode, "2.16") == RECIPES[-1][1][mode]
        assert recipe_for(mode, "2.17") == recipe_for(mode, "2.21") == RECIPES[0][1][mode]
    assert not recipe_for("dynamic", "2.14").per_channel_dense and recipe_for("dynamic").per_channel_dense is False
    assert (
        recipe_for("fp32", "2.14")
        == dataclasses.replace(recipe_for("fp16", "2.14"), fp16_arithmetic=False)
        == Recipe(activation="quick_gelu", reductions="channel_conv")
    )
    # fp16 files ask XNNPACK for fp16 arithmetic on every runtime row (docs/arm.md), and only they do.
    assert all(recipes["fp16"].fp16_arithmetic for _, recipes in RECIPES)
    assert not any(recipes[mode].fp16_arithmetic for _, recipes in RECIPES for mode in MODES if mode != "fp16")
    # LiteRT's fp16 file writes its norms so that XNNPACK can run them in fp16 (op_forms.l2_normalize).
    assert recipe_for("fp16") == Recipe(reductions="fp16_sum", fp16_arithmetic=True)
    assert recipe_for("fp32") == Recipe() and DEFAULT_MIN_RUNTIME == {
        "fp32": "2.17",
        "fp16": "2.17",
        "dynamic": "2.14",
        "int8": "2.14",
    }
    with pytest.raises(ValueError, match="'bf16'"):
        recipe_for("bf16")
    with pytest.raises(ValueError, match="older than 2.12"):
        recipe_for("fp32", "2.11")


class _Encoder(sf.ConvEncoder):
    """A subclass outside swiftformer_keras.models.layers: it inherits the declaration, so it is swapped too."""


def _mixed_model():
    inputs = keras.Input((16, 16, 8))
    x = sf.ConvEncoder(hidden_dim=16, name="encoder")(inputs)
    x = _Encoder(hidden_dim=16, name="subclassed")(x)
    x = sf.SwiftFormerBlock(name="block")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    # Dense takes activation="gelu" too, but declares no recipe_options: left alone.
    return keras.Model(inputs, keras.layers.Dense(4, activation="gelu", name="dense")(x))


def test_prepare_model_sets_the_options_of_the_layers_that_declare_them():
    assert sf.ConvEncoder.recipe_options == sf.Mlp.recipe_options == {"activation": sf.ACTIVATIONS}
    assert sf.EfficientAdditiveAttention.recipe_options == {"reductions": sf.REDUCTIONS}
    model = _mixed_model()
    prepared = Recipe(activation="gelu_tanh", reductions="matmul").prepare_model(model)
    assert prepared.get_layer("encoder").activation == prepared.get_layer("subclassed").activation == "gelu_tanh"
    block = prepared.get_layer("block")
    assert (block.activation, block.reductions, block.attn.reductions) == ("gelu_tanh", "matmul", "matmul")
    assert block.linear.activation == block.local_representation.activation == "gelu_tanh"
    assert prepared.get_layer("dense").get_config()["activation"] == "gelu"
    back = Recipe(activation="gelu", reductions="sum").prepare_model(prepared)
    assert back.get_layer("encoder").activation == "gelu" and back.get_layer("block").attn.reductions == "sum"
    assert Recipe(float_ops=("RSQRT",)).prepare_model(model) is model


@pytest.mark.parametrize(
    "recipe, bound",
    [
        (Recipe(reductions="matmul"), 1e-5),  # the same function, written with other ops
        (Recipe(reductions="channel_conv"), 1e-5),
        (Recipe(reductions="fp16_sum"), 1e-5),  # the same above its clamp (2^-10)
        (Recipe(activation="gelu_tanh"), 2e-3),  # the tanh approximation: 5e-4 per activation
        (DEFAULT_INT8_RECIPE, 0.05),  # quick GELU: 0.02 per activation
    ],
)
def test_prepare_model_keeps_the_weights_and_the_function(recipe, bound):
    model = tiny_model("l2")
    prepared = recipe.prepare_model(model)
    declared = [layer for layer in all_layers(prepared) if "activation" in getattr(layer, "recipe_options", {})]
    assert len(declared) > 4
    if recipe.activation:
        assert {layer.activation for layer in declared} == {recipe.activation}
    for a, b in zip(model.weights, prepared.weights, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    images = random_images(2, (64, 64), seed=1)
    expected = keras.ops.convert_to_numpy(model(images))
    got = keras.ops.convert_to_numpy(prepared(images))
    assert 0 < np.abs(got - expected).max() < bound * np.abs(expected).max()


def _weight_scale_counts(path, op="CONV_2D"):
    """How many scales each int8 constant (weight) tensor of the file's `op`s carries."""
    interpreter = make_interpreter(model_path=path, xnnpack=False)
    inputs = {i for node in nodes(interpreter) if node["op_name"] == op for i in node["inputs"][1:2]}
    return {
        len(t["quantization_parameters"]["scales"])
        for t in interpreter.get_tensor_details()
        if t["index"] in inputs and t["dtype"] == np.int8
    }


def test_per_channel_is_wired_to_the_quantizer(tmp_path):
    model, calibration = tiny_model("l2"), random_images(8, (64, 64), seed=1)
    default = export_tflite(model, tmp_path / "per_channel.tflite", mode="int8", calibration=calibration)
    per_tensor = export_tflite(
        model,
        tmp_path / "per_tensor.tflite",
        mode="int8",
        calibration=calibration,
        recipe=dataclasses.replace(DEFAULT_INT8_RECIPE, per_channel=False),
    )
    assert max(_weight_scale_counts(default)) > 1
    assert _weight_scale_counts(per_tensor) == {1}


def _dense_model():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(64, 3)(inputs))
    return keras.Model(inputs, keras.layers.Dense(64)(x))  # 4096 weights: big enough to be quantized


@pytest.mark.parametrize("mode", ["dynamic", "int8"])
def test_per_channel_dense_decides_the_fully_connected_version(tmp_path, mode):
    """Per-channel dynamic-range dense weights make FULLY_CONNECTED v12, which needs TF 2.17 (the old
    dynamic recipe avoids it); full-integer per-channel FULLY_CONNECTED is v4 either way."""
    model, calibration = _dense_model(), random_images(8, (8, 8), seed=1)
    versions = {}
    for per_channel_dense in (True, False):
        recipe = dataclasses.replace(recipe_for(mode, "2.17"), per_channel_dense=per_channel_dense)
        path = export_tflite(
            model,
            tmp_path / f"{per_channel_dense}.tflite",
            mode=mode,
            calibration=calibration,
            recipe=recipe,
            min_runtime="2.17",
        )
        versions[per_channel_dense] = dict(op_versions(path))["FULLY_CONNECTED"]
        if mode == "int8":
            assert _weight_scale_counts(path, "FULLY_CONNECTED") == ({64} if per_channel_dense else {1})
    if mode == "dynamic":
        assert versions[True] == 12 and versions[False] < 12
    else:
        assert versions[True] == versions[False] == 4


def test_debug_measures_the_recipe_that_ships(tmp_path, monkeypatch):
    """--float-ops adds to the recipe's list; the shipped file and --debug's quantizer both get its settings."""
    calls, quantize = [], tf_convert.mlir_quantize

    def recording(calibrated, **kwargs):  # the debugger and the recipe both call it through this module
        calls.append({key: kwargs.get(key) for key in ("denylisted_ops", "disable_per_channel", "denylisted_nodes")})
        return quantize(calibrated, **kwargs)

    monkeypatch.setattr(tf_convert, "mlir_quantize", recording)

    output, report_path, keras_file = tmp_path / "int8.tflite", tmp_path / "report.json", tmp_path / "tiny.keras"
    randomize_weights(SwiftFormer(TINY, input_shape=(64, 64, 3), classifier_activation=None)).save(keras_file)
    code = to_tflite.main(
        [
            "--keras-model",
            str(keras_file),
            "--int8",
            "--calib-random",
            "--num-calib",
            "8",
            "--min-runtime",
            "2.17",
            "--float-ops",
            "RSQRT",
            "MAXIMUM",
            "SUM",
            "--debug",
            "--output",
            str(output),
            "--report",
            str(report_path),
        ]
    )
    assert code == 0
    float_ops = ["RSQRT", "MAXIMUM", "SOFTMAX", "SUM"]  # the 2.17 recipe's (RSQRT, MAXIMUM, SOFTMAX) and SUM
    assert len(calls) == 2  # the shipped file, then the debugger's
    # The same ops and nodes (none: the first convolution is int8) kept in float by both.
    assert calls[0] == calls[1] == {"denylisted_ops": float_ops, "disable_per_channel": False, "denylisted_nodes": None}
    with open(report_path) as file:
        report = json.load(file)
    assert report["recipe"] == {
        "activation": "quick_gelu",
        "reductions": None,
        "float_ops": float_ops,
        "per_channel": True,
        "per_channel_dense": True,
        "float_first_conv": False,
        "fp16_arithmetic": False,
    }
    assert report["min_runtime_asked"] == "2.17" and report["float_ops_kept"] == float_ops
    assert "sigmoid(1.702 x)" in report["activation"]
    assert report["float_ops_in_integer_model"] == sorted(float_ops)
    # The debugger instruments the quantized ops only: the ops kept in float are not among them,
    # and its model computes GELU as the shipped file does.
    debugged = {row["op_name"] for row in report["debug_layers"]}
    assert debugged and not debugged & set(float_ops) and "LOGISTIC" in debugged
    shipped = {row["op"] for row in op_table(output)}
    assert "GELU" not in shipped | debugged and "LOGISTIC" in shipped


def _float_first_file(tmp_path, float_first_conv, io="float32", input_type="normalized"):
    recipe = dataclasses.replace(DEFAULT_INT8_RECIPE, float_first_conv=float_first_conv)
    path = tmp_path / f"{float_first_conv}_{io}_{input_type}.tflite"
    export_tflite(
        tiny_model(),
        path,
        mode="int8",
        calibration=random_images(16, (64, 64), seed=1),
        io=io,
        recipe=recipe,
        input_type=input_type,
        metadata=False,
    )
    return path


def test_float_first_conv_keeps_the_image_and_the_first_convolution_in_float(tmp_path):
    """`float_first_conv` (off by default): the first convolution and the ops before it (the stem's PAD, or
    a pixel file's mean-pixel CONCATENATIONs) compute in float and the graph is int8 from that convolution's
    output on, still one XNNPACK partition; without it, or with integer input and output, every convolution
    is int8."""
    floated = [(row["op"], row["output_dtype"]) for row in op_table(_float_first_file(tmp_path, True))]
    assert floated[:3] == [("PAD", "float32"), ("CONV_2D", "float32"), ("QUANTIZE", "int8")]
    assert [op for op, dtype in floated[3:] if op in ("CONV_2D", "PAD") and dtype != "int8"] == []
    assert xnnpack_partitions(_float_first_file(tmp_path, True)) == 1
    pixels = [
        (row["op"], row["output_dtype"]) for row in op_table(_float_first_file(tmp_path, True, "float32", "float32"))
    ]
    assert pixels[:4] == [("CONCATENATION", "float32")] * 2 + [("CONV_2D", "float32"), ("QUANTIZE", "int8")]
    for path in (_float_first_file(tmp_path, False), _float_first_file(tmp_path, True, io="int8")):
        rows = op_table(path)
        assert {row["output_dtype"] for row in rows if row["op"] in ("CONV_2D", "PAD")} == {"int8"}


def test_first_conv_path_follows_the_input_to_the_first_convolution():
    def tflite(outputs_of):
        inputs = keras.Input((8, 8, 3))
        return tf.lite.TFLiteConverter.from_keras_model(keras.Model(inputs, outputs_of(inputs))).convert()

    def squared_conv(x):  # a MUL, a convolution (the converter folds the PAD into it), then more
        x = keras.layers.Conv2D(4, 3, name="first")(keras.layers.ZeroPadding2D(1)(x * x))
        return keras.layers.Conv2D(4, 1, name="second")(keras.layers.ReLU()(x))

    path = first_conv_path(tflite(squared_conv))
    assert len(path) == 2 and path[0].endswith("Mul") and "first" in path[1]
    assert first_conv_path(tflite(lambda x: keras.layers.Dense(2)(keras.layers.Flatten()(x)))) == []
