"""activation_ranges: the ranges int8 is quantized with, against the float model's own values."""

import os

import keras
import numpy as np
import pytest
from keras import layers, ops

from conftest import IMAGENET_SAMPLES, TINY
from swiftformer_keras import SwiftFormer
from swiftformer_keras.lite import activation_ranges
from swiftformer_keras.lite.calibration import sample_images
from swiftformer_keras.lite.converter import convert
from swiftformer_keras.lite.interpreter import count_partitions, make_interpreter
from swiftformer_keras.lite.recipe import FileSpec, recipe_for
from swiftformer_keras.models.random_init import randomize_weights


def _in_place_model():
    """`scaled = a * s` is read only by `spread = scaled * g`, which the interpreter computes
    in `scaled`'s buffer; `g` is a sum over tokens, hundreds of times wider (the attention's
    key and global query). Returns the model and one giving `(scaled, spread)`."""
    inputs = keras.Input((8, 8, 4))
    scaled = layers.Conv2D(4, 1, name="a")(inputs) * layers.Conv2D(1, 1, name="s")(inputs)
    global_sum = ops.sum(layers.Conv2D(4, 1, name="g")(inputs), axis=(1, 2), keepdims=True) * 100.0
    spread = scaled * global_sum
    outputs = layers.Conv2D(4, 1, name="out")(spread)
    return keras.Model(inputs, outputs), keras.Model(inputs, [scaled, spread])


def _calibrated(model, images):
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    return recipe_for("int8", "2.17").configure(converter, "int8", images).convert()


def _ranges(content):
    return {
        index: (float(low[0]), float(high[0]))
        for index, (low, high) in activation_ranges._recorded_tensors(bytearray(content)).items()
    }


@pytest.fixture(scope="module")
def in_place():
    keras.utils.set_random_seed(0)
    model, intermediates = _in_place_model()
    images = np.random.default_rng(0).normal(size=(16, 8, 8, 4)).astype("float32")
    scaled, spread = intermediates.predict(images, verbose=0)
    truth = {"scaled": (scaled.min(), scaled.max()), "spread": (spread.min(), spread.max())}
    return _calibrated(model, images), images, truth


def _index_of(ranges, wanted):
    found = [index for index, pair in ranges.items() if np.allclose(pair, wanted, rtol=1e-4)]
    assert len(found) == 1, f"{wanted} matches {len(found)} tensors"
    return found[0]


def test_measure_finds_each_tensors_own_range_where_the_calibrator_records_its_readers(in_place):
    calibrated, images, truth = in_place
    measured, recorded = activation_ranges.measure(calibrated, images), _ranges(calibrated)
    assert set(measured) == set(recorded)
    scaled = _index_of(measured, truth["scaled"])
    # TFLite's calibrator gave the in-place input the range of its reader's output.
    assert np.allclose(recorded[scaled], truth["spread"], rtol=1e-4)
    assert (recorded[scaled][1] - recorded[scaled][0]) > 500 * (truth["scaled"][1] - truth["scaled"][0])
    # The calibrator never records less than there is, and records more only for the three
    # tensors an element-wise MUL alone reads (`a`, `a * s`, the token sum).
    for index, (low, high) in measured.items():  # TF's kernels and LiteRT's round floats apart
        assert recorded[index][0] <= low + 1e-5 * max(1.0, abs(low))
        assert recorded[index][1] >= high - 1e-5 * max(1.0, abs(high))
    assert sum(not np.allclose(measured[i], recorded[i], rtol=1e-4) for i in measured) == 3


def test_remeasure_writes_the_measured_ranges_in_place(in_place):
    calibrated, images, truth = in_place
    corrected = activation_ranges.remeasure(calibrated, images)
    assert len(corrected) == len(calibrated)
    changed = sum(a != b for a, b in zip(corrected, calibrated, strict=True))
    assert 0 < changed <= len(_ranges(calibrated)) * 2 * 4  # a min and a max per tensor, four bytes each
    outputs = []
    for content in (calibrated, corrected):  # the graph and its weights are untouched
        interpreter = make_interpreter(model_content=content)
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], images[:1])
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]))
    np.testing.assert_array_equal(*outputs)
    ranges, measured = _ranges(corrected), activation_ranges.measure(calibrated, images)
    assert set(ranges) == set(measured)
    assert np.allclose([ranges[i] for i in sorted(ranges)], [measured[i] for i in sorted(ranges)])
    assert np.allclose(ranges[_index_of(ranges, truth["scaled"])], truth["scaled"], rtol=1e-4)


def test_an_add_input_is_widened_to_xnnpacks_scale_limit_last_add_first():
    # ADD 0: (t, tiny) -> out; ADD 1, earlier in the graph: (a, b) -> t.
    ranges = {"a": (-0.01, 0.01), "b": (-1e-6, 1e-6), "t": (-0.5, 0.5), "tiny": (0.0, 0.0), "out": (-1000.0, 1000.0)}
    widened = activation_ranges._widened_for_xnnpack(ranges, [(["t", "tiny"], "out"), (["a", "b"], "t")])
    assert widened["t"] == pytest.approx((-1.0, 1.0))  # 2000 / 1000, scaled around zero
    assert widened["tiny"] == pytest.approx((-1.0, 1.0))
    assert widened["a"] == pytest.approx((-0.01, 0.01))  # 0.02 >= 2 / 1000: as it was
    assert widened["b"] == pytest.approx((-1e-3, 1e-3))  # against t's widened range
    assert widened["out"] == ranges["out"]
    assert activation_ranges._widened_for_xnnpack(ranges, []) == ranges


def _small_branch_model():
    """A residual branch 1e-5 of the stream it joins, in the middle of the graph."""
    inputs = keras.Input((8, 8, 4))
    stream = layers.Conv2D(8, 1)(inputs)
    branch = layers.Conv2D(8, 1, kernel_initializer=keras.initializers.RandomNormal(stddev=1e-5))(inputs)
    outputs = layers.Conv2D(8, 1)(layers.Conv2D(8, 1)(stream + branch))
    return keras.Model(inputs, outputs)


def test_a_tiny_residual_branch_keeps_the_int8_add_in_xnnpack(monkeypatch):
    model = _small_branch_model()
    images = np.random.default_rng(1).normal(size=(8, 8, 8, 4)).astype("float32")
    partitions, limit = {}, activation_ranges.XNNPACK_ADD_MIN_SCALE_RATIO
    for ratio in (limit, 0.0):
        monkeypatch.setattr(activation_ranges, "XNNPACK_ADD_MIN_SCALE_RATIO", ratio)
        interpreter = make_interpreter(model_content=convert(model, FileSpec("int8"), calibration=images))
        partitions[ratio] = count_partitions(interpreter)[0]
    assert partitions == {limit: 1, 0.0: 2}


def _sqnr_db(reference, outputs):
    return 10 * np.log10(np.mean(reference**2) / np.mean((outputs - reference) ** 2))


def test_int8_keeps_the_sum_pooled_attention_of_the_hub_weights(monkeypatch):
    """The hub weights' attention sums the queries over all tokens; with the calibrator's ranges
    its int8 normalised key had steps of a fifth of its whole range, and the logits were lost."""
    model = randomize_weights(
        SwiftFormer(TINY, attention="softmax", input_shape=(64, 64, 3), classifier_activation=None, classes=10)
    )
    images, _ = sample_images(os.path.join(IMAGENET_SAMPLES, "images"), 32, (64, 64), seed=0)
    reference = model.predict(images, verbose=0)
    sqnr = {}
    for mode in ("calibrator's ranges", "remeasured"):
        if mode == "calibrator's ranges":
            monkeypatch.setattr(activation_ranges, "remeasure", lambda content, images, progress=None: content)
        else:
            monkeypatch.undo()
        interpreter = make_interpreter(model_content=convert(model, FileSpec("int8"), calibration=images))
        image, logits = interpreter.get_input_details()[0]["index"], interpreter.get_output_details()[0]["index"]
        outputs = []
        for x in images:
            interpreter.set_tensor(image, x[None])
            interpreter.invoke()
            outputs.append(interpreter.get_tensor(logits)[0])
        sqnr[mode] = _sqnr_db(reference, np.array(outputs))
    assert sqnr["calibrator's ranges"] < 10 and sqnr["remeasured"] > 18, sqnr


def test_measure_refuses_what_is_not_a_tflite_model():
    with pytest.raises(ValueError, match="TFL3"):
        activation_ranges.measure(b"not a model", [])
