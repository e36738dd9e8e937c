"""The int8 recipe: one value, applied the same way by the shipped conversion and by --debug."""

import dataclasses
import json

import keras
import numpy as np
import pytest

from conftest import load_script
from swiftformer_keras import layers as sf
from swiftformer_keras.export import export_tflite
from swiftformer_keras.int8_recipe import DEFAULT_INT8_RECIPE, Int8Recipe
from swiftformer_keras.interpreter import make_interpreter, nodes
from tests.test_export import _all_layers, _images, tiny_model


def test_a_recipe_is_a_frozen_hashable_value_that_round_trips():
    recipe = Int8Recipe(float_ops=["RSQRT", "MAXIMUM", "SUM"], per_channel=False)
    assert recipe.float_ops == ("RSQRT", "MAXIMUM", "SUM")  # a list is stored as a tuple
    with pytest.raises(dataclasses.FrozenInstanceError):
        recipe.float_ops = ()
    assert len({recipe, Int8Recipe(("RSQRT", "MAXIMUM", "SUM"), per_channel=False), DEFAULT_INT8_RECIPE}) == 2
    saved = json.loads(json.dumps(recipe.as_dict()))
    assert saved == {"float_ops": ["RSQRT", "MAXIMUM", "SUM"], "activation": "quick_gelu", "per_channel": False}
    assert Int8Recipe.from_dict(saved) == recipe
    assert DEFAULT_INT8_RECIPE == Int8Recipe() == Int8Recipe(("RSQRT", "MAXIMUM"), "quick_gelu", True)
    assert dataclasses.replace(DEFAULT_INT8_RECIPE, activation=None).activation_text == "as in the Keras model"
    for bad in ({"activation": "relu"}, {"float_ops": "RSQRT"}, {"float_ops": [1]}, {"per_channel": "yes"}):
        with pytest.raises(ValueError):
            Int8Recipe(**bad)


class _Encoder(sf.ConvEncoder):
    """A subclass outside swiftformer_keras.layers: it inherits the declaration, so it is swapped too."""


def _mixed_model():
    inputs = keras.Input((16, 16, 8))
    x = sf.ConvEncoder(hidden_dim=16, name="encoder")(inputs)
    x = _Encoder(hidden_dim=16, name="subclassed")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    # Dense takes activation="gelu" too, but declares no accepted_activations: left alone.
    return keras.Model(inputs, keras.layers.Dense(4, activation="gelu", name="dense")(x))


def test_prepare_model_swaps_the_activation_of_the_layers_that_declare_it():
    assert {layer.accepted_activations for layer in (sf.ConvEncoder, sf.LocalRepresentation, sf.Mlp,
                                                     sf.SwiftFormerBlock)} == {sf.ACTIVATIONS}
    model = _mixed_model()
    prepared = DEFAULT_INT8_RECIPE.prepare_model(model)
    assert prepared.get_layer("encoder").activation == prepared.get_layer("subclassed").activation == "quick_gelu"
    assert prepared.get_layer("dense").get_config()["activation"] == "gelu"
    back = dataclasses.replace(DEFAULT_INT8_RECIPE, activation="gelu").prepare_model(prepared)
    assert back.get_layer("encoder").activation == "gelu"
    assert dataclasses.replace(DEFAULT_INT8_RECIPE, activation=None).prepare_model(model) is model


def test_prepare_model_keeps_the_weights_and_swaps_gelu_everywhere_in_swiftformer():
    model = tiny_model("l2")
    prepared = DEFAULT_INT8_RECIPE.prepare_model(model)
    declared = [layer for layer in _all_layers(prepared) if hasattr(layer, "accepted_activations")]
    assert len(declared) > 4 and {layer.activation for layer in declared} == {"quick_gelu"}
    for a, b in zip(model.weights, prepared.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    images = _images(2, 64, 64)
    expected = keras.ops.convert_to_numpy(model(images))
    got = keras.ops.convert_to_numpy(prepared(images))
    assert 0 < np.abs(got - expected).max() < 0.05 * np.abs(expected).max()


def _weight_scale_counts(path):
    """How many scales each int8 constant (weight) tensor of the file carries."""
    interpreter = make_interpreter(model_path=path, xnnpack=False)
    inputs = {i for node in nodes(interpreter) if node["op_name"] == "CONV_2D" for i in node["inputs"]}
    return {len(t["quantization_parameters"]["scales"]) for t in interpreter.get_tensor_details()
            if t["index"] in inputs and t["dtype"] == np.int8 and len(t["shape"]) == 4 and t["shape"][0] > 1}


def test_per_channel_is_wired_to_the_quantizer(tmp_path):
    model, calibration = tiny_model("l2"), _images(8, 64, 64)
    default = export_tflite(model, tmp_path / "per_channel.tflite", mode="int8", calibration=calibration)
    per_tensor = export_tflite(model, tmp_path / "per_tensor.tflite", mode="int8", calibration=calibration,
                               recipe=dataclasses.replace(DEFAULT_INT8_RECIPE, per_channel=False))
    assert max(_weight_scale_counts(default)) > 1
    assert _weight_scale_counts(per_tensor) == {1}


def test_debug_measures_the_recipe_that_ships(tmp_path, monkeypatch):
    """--float-ops builds one recipe; the shipped file and --debug's quantizer both get its settings."""
    from tensorflow.lite.python import convert as tf_convert

    from swiftformer_keras.tflite_report import op_table

    calls, quantize = [], tf_convert.mlir_quantize

    def recording(calibrated, **kwargs):  # the debugger and the recipe both call it through this module
        calls.append({key: kwargs.get(key) for key in ("denylisted_ops", "disable_per_channel")})
        return quantize(calibrated, **kwargs)

    monkeypatch.setattr(tf_convert, "mlir_quantize", recording)
    output, report_path = tmp_path / "xs_int8.tflite", tmp_path / "report.json"
    code = load_script("conversion/to_tflite.py").main([
        "--model", "XS", "--weights", "random", "--input-size", "64", "64", "--int8", "--calib-random",
        "--num-calib", "8", "--float-ops", "RSQRT", "MAXIMUM", "SUM", "--debug",
        "--output", str(output), "--report", str(report_path),
    ])
    assert code == 0
    float_ops = ["RSQRT", "MAXIMUM", "SUM"]
    assert len(calls) == 2  # the shipped file, then the debugger's
    assert calls[0] == calls[1] == {"denylisted_ops": float_ops, "disable_per_channel": False}
    with open(report_path) as file:
        report = json.load(file)
    assert report["int8_recipe"] == {"float_ops": float_ops, "activation": "quick_gelu", "per_channel": True}
    assert report["float_ops_kept"] == float_ops and "sigmoid(1.702 x)" in report["activation"]
    assert report["float_ops_in_integer_model"] == sorted(float_ops)
    # The debugger instruments the quantized ops only: the ops kept in float are not among them,
    # and its model computes GELU as the shipped file does.
    debugged = {row["op_name"] for row in report["debug_layers"]}
    assert debugged and not debugged & set(float_ops) and "LOGISTIC" in debugged
    shipped = {row["op"] for row in op_table(output)}
    assert "GELU" not in shipped | debugged and "LOGISTIC" in shipped
