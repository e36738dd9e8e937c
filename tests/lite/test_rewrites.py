"""The graph rewrites before conversion: each computes what the model computes, in the Keras model
and in the file the converter writes from it."""

import collections

import keras
import numpy as np
import pytest

import swiftformer_keras as sfk
from conftest import TINY, tiny_model
from swiftformer_keras.lite import converter
from swiftformer_keras.lite.calibration import random_images
from swiftformer_keras.lite.converter import export_tflite, tflite_ops
from swiftformer_keras.lite.metadata import IMAGENET_PIXEL_NORMALIZATION
from swiftformer_keras.lite.predictor import tflite_runner
from swiftformer_keras.lite.report import op_table, xnnpack_partitions
from swiftformer_keras.lite.rewrites import (
    output_kind,
    with_classifier_activation,
    with_final_norm_folded,
    with_pixel_input,
)
from swiftformer_keras.models.layers import PixelNormalization


def test_the_classifier_activation_is_added_and_removed_and_a_backbone_has_none():
    logits = tiny_model()
    images = random_images(2, (64, 64), seed=2)
    probabilities = with_classifier_activation(logits, "softmax")
    assert (output_kind(logits), output_kind(probabilities)) == ("logits", "probabilities")
    assert probabilities.layers[-1].name == "probabilities" and probabilities.name == logits.name
    np.testing.assert_allclose(
        np.asarray(probabilities(images)), keras.ops.convert_to_numpy(keras.ops.softmax(logits(images))), atol=1e-6
    )
    assert with_classifier_activation(probabilities, "softmax") is probabilities  # already so: itself
    back = with_classifier_activation(probabilities, None)
    assert output_kind(back) == "logits"
    np.testing.assert_allclose(np.asarray(back(images)), np.asarray(logits(images)), atol=1e-6)

    backbone = sfk.SwiftFormer(TINY, include_top=False, pooling="avg", input_shape=(64, 64, 3))
    assert output_kind(backbone) == "features"
    with pytest.raises(ValueError, match="no classifier head"):
        with_classifier_activation(backbone, None)
    with pytest.raises(ValueError, match="Unknown classifier_activation 'relu'"):
        with_classifier_activation(logits, "relu")
    one = sfk.SwiftFormer(TINY, classes=1, classifier_activation=None, input_shape=(64, 64, 3))
    with pytest.raises(ValueError, match="one-logit head"):
        with_classifier_activation(one, "softmax")


def test_pixel_input_folds_the_normalisation_into_the_stem(tmp_path):
    """A pixel-input SwiftFormer file computes no per-channel MUL and ADD before its first convolution
    (XNNPACK runs them row by row over 3 channels): the stem takes the pixels, and the file equals
    PixelNormalization in front of the model. Any other model gets the PixelNormalization layer."""
    model = tiny_model()
    pixels = np.random.default_rng(3).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    inputs = keras.Input((64, 64, 3))
    reference = keras.Model(inputs, model(PixelNormalization(*IMAGENET_PIXEL_NORMALIZATION)(inputs)))
    expected = np.asarray(reference(pixels))
    folded = with_pixel_input(model)
    assert not any(isinstance(layer, PixelNormalization) for layer in folded.layers)
    assert folded.get_layer("stem").pixel_normalization == IMAGENET_PIXEL_NORMALIZATION
    assert model.get_layer("stem").pixel_normalization is None  # the model itself is left as it was
    np.testing.assert_allclose(np.asarray(folded(pixels)), expected, atol=1e-4)
    path = export_tflite(model, tmp_path / "pixels.tflite", input_type="float32", metadata=False)
    ops = [row["op"] for row in op_table(path)]
    assert ops[: ops.index("CONV_2D")] == ["CONCATENATION", "CONCATENATION"]
    np.testing.assert_allclose(tflite_runner(path)(pixels), expected, atol=1e-4)

    plain = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(2, 3)])
    assert isinstance(with_pixel_input(plain, "uint8").layers[1], PixelNormalization)
    with pytest.raises(ValueError, match="float32 or uint8, got 'int8'"):
        with_pixel_input(plain, "int8")


def test_the_final_norm_is_folded_into_the_classifier(tmp_path, monkeypatch):
    """The head's BatchNorm goes into both dense heads: the same logits, a MUL and an ADD fewer in the file,
    and an int8 file that stays one XNNPACK partition when the norm's shift is far finer than its input
    (its ADD's constant below XNNPACK's scale limit, which split the graph before the fold)."""
    model = tiny_model()
    norm = model.get_layer("norm")
    norm.beta.assign(np.full(norm.beta.shape, 1e-7, "float32"))
    norm.moving_mean.assign(np.zeros(norm.moving_mean.shape, "float32"))
    images = random_images(4, (64, 64), seed=4)
    folded = with_final_norm_folded(model)
    assert "norm" not in [layer.name for layer in folded.layers] and folded.get_layer("stem") is model.get_layer("stem")
    np.testing.assert_allclose(np.asarray(folded(images)), np.asarray(model(images)), atol=1e-5)
    backbone = sfk.SwiftFormer(TINY, include_top=False, pooling="max", input_shape=(64, 64, 3))
    assert with_final_norm_folded(backbone) is backbone
    calibration = random_images(16, (64, 64), seed=1)
    folded_fp32 = export_tflite(model, tmp_path / "folded.tflite", metadata=False)
    folded_int8 = export_tflite(
        model, tmp_path / "folded_int8.tflite", mode="int8", calibration=calibration, metadata=False
    )
    monkeypatch.setattr(converter, "with_final_norm_folded", lambda model: model)
    plain_fp32 = export_tflite(model, tmp_path / "plain.tflite", metadata=False)
    plain_int8 = export_tflite(
        model, tmp_path / "plain_int8.tflite", mode="int8", calibration=calibration, metadata=False
    )
    fewer = tflite_ops(plain_fp32) - tflite_ops(folded_fp32)
    assert fewer == collections.Counter({"MUL": 1, "ADD": 1})
    np.testing.assert_allclose(tflite_runner(folded_fp32)(images), np.asarray(model(images)), atol=1e-4)
    assert (xnnpack_partitions(plain_int8), xnnpack_partitions(folded_int8)) == (2, 1)
