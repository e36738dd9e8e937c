"""SwiftFormerImageClassifier: SwiftFormer's head, config, presets on TensorFlow and JAX, fit and predict."""

import json
import os
import subprocess
import sys

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from conftest import ROOT, TINY
from swiftformer_keras.models.random_init import randomize_weights
from swiftformer_keras.presets.backbone import SwiftFormerBackbone
from swiftformer_keras.presets.image_classifier import SwiftFormerImageClassifier
from swiftformer_keras.presets.image_classifier_preprocessor import SwiftFormerImageClassifierPreprocessor
from swiftformer_keras.presets.image_converter import SwiftFormerImageConverter, imagenet_image_converter

X = np.random.RandomState(0).randn(2, 64, 64, 3).astype("float32")
# Raw pixels of another size than the model's: the preprocessor crops and resizes them.
RAW = np.random.RandomState(1).randint(0, 256, (3, 80, 100, 3)).astype("uint8")


def tiny_classifier(num_classes=5, activation=None):
    backbone = SwiftFormerBackbone(TINY, image_shape=(64, 64, 3))
    preprocessor = SwiftFormerImageClassifierPreprocessor(imagenet_image_converter((64, 64), crop_pct=0.95))
    classifier = SwiftFormerImageClassifier(backbone, num_classes, preprocessor=preprocessor, activation=activation)
    return randomize_weights(classifier, seed=2)


@pytest.fixture(scope="module")
def classifier():
    """Logits out: comparisons of outputs then say something about every class."""
    return tiny_classifier()


@pytest.fixture(scope="module")
def preset(classifier, tmp_path_factory):
    folder = tmp_path_factory.mktemp("preset")
    classifier.save_to_preset(str(folder))
    return str(folder)


def test_the_head_is_swiftformers_distilled_classifier():
    classifier = tiny_classifier(activation="softmax")
    assert [layer.name for layer in classifier.layers] == [
        "pixels",
        classifier.backbone.name,
        "avg_pool",
        "classifier",
        "predictions",
    ]
    # softmax(mean over positions @ (head + dist_head) / 2), in NumPy.
    pooled = np.asarray(classifier.backbone(X)).mean(axis=(1, 2))
    head, dist_head = classifier.get_layer("classifier").head, classifier.get_layer("classifier").dist_head
    kernel = (np.asarray(head.kernel) + np.asarray(dist_head.kernel)) / 2
    bias = (np.asarray(head.bias) + np.asarray(dist_head.bias)) / 2
    logits = pooled @ kernel + bias
    expected = np.exp(logits - logits.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    assert logits.std() > 1  # realistic weights: the probabilities are not uniform
    np.testing.assert_allclose(np.asarray(classifier(X)), expected, rtol=1e-5, atol=1e-6)
    assert not classifier.loss.get_config()["from_logits"]  # KerasHub's compile() read the activation


def test_get_config_round_trips_through_json(classifier):
    written = json.loads(json.dumps(classifier.get_config()))
    assert (written["num_classes"], written["activation"], written["dropout"], written["head_dtype"]) == (
        5,
        None,
        0.0,
        None,
    )
    again = SwiftFormerImageClassifier.from_config(json.loads(json.dumps(written)))  # Task.from_config edits its dict
    assert json.loads(json.dumps(again.get_config())) == written
    assert isinstance(again.preprocessor.image_converter, SwiftFormerImageConverter)
    again.set_weights(classifier.get_weights())
    np.testing.assert_array_equal(np.asarray(again(X)), np.asarray(classifier(X)))


def test_logits_without_an_activation_and_a_dropout_before_the_head():
    classifier = SwiftFormerImageClassifier(SwiftFormerBackbone(TINY), 4, dropout=0.3)
    assert [layer.name for layer in classifier.layers][-1] == "classifier"
    assert classifier.get_layer("classifier").dropout_rate == 0.3
    assert classifier.get_config()["activation"] is None
    assert classifier.loss.get_config()["from_logits"]  # KerasHub's compile() read the activation


def test_keras_hubs_generic_loaders_build_our_classes_from_a_preset(classifier, preset):
    assert sorted(os.listdir(preset)) == [
        "config.json",
        "image_converter.json",
        "metadata.json",
        "model.weights.h5",
        "preprocessor.json",
        "task.json",
        "task.weights.h5",
    ]
    loaded = keras_hub.models.ImageClassifier.from_preset(preset)
    assert type(loaded) is SwiftFormerImageClassifier
    np.testing.assert_array_equal(np.asarray(loaded(X)), np.asarray(classifier(X)))
    np.testing.assert_array_equal(loaded.predict(RAW, verbose=0), classifier.predict(RAW, verbose=0))

    backbone = keras_hub.models.Backbone.from_preset(preset)
    assert type(backbone) is SwiftFormerBackbone
    np.testing.assert_array_equal(np.asarray(backbone(X)), np.asarray(classifier.backbone(X)))

    converter = keras_hub.layers.ImageConverter.from_preset(preset)
    assert type(converter) is SwiftFormerImageConverter and converter.crop_pct == 0.95


def test_a_new_head_on_the_presets_backbone(classifier, preset):
    fresh = SwiftFormerImageClassifier.from_preset(preset, num_classes=3)
    assert fresh.output_shape == (None, 3) and fresh.get_layer("classifier").classes == 3
    for saved, loaded in zip(classifier.backbone.weights, fresh.backbone.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(loaded), np.asarray(saved))
    assert fresh.get_config()["activation"] is None and np.asarray(fresh(X)).shape == (2, 3)


def test_fit_trains_and_predict_preprocesses_raw_images():
    classifier = tiny_classifier(num_classes=4, activation=None)
    images = np.random.RandomState(3).randint(0, 256, (8, 72, 96, 3)).astype("uint8")
    labels = np.array([0, 1, 2, 3, 3, 2, 1, 0])
    before = [np.array(variable.numpy()) for variable in classifier.trainable_weights]
    # Eagerly: tracing the training step of any SwiftFormer takes ~9 s on CPU, eager steps ~1 s, and
    # what is tested here (KerasHub's preprocessing in tf.data, loss, updates) is the same either way.
    classifier.compile(optimizer=keras.optimizers.Adam(1e-3), run_eagerly=True)
    history = classifier.fit(images, labels, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    changed = [not np.array_equal(a, b.numpy()) for a, b in zip(before, classifier.trainable_weights, strict=True)]
    assert all(changed), f"{changed.count(False)} of {len(changed)} variables did not change"

    predictions = classifier.predict(RAW, verbose=0)
    assert predictions.shape == (3, 4)
    # predict() preprocesses in tf.data, where Keras's resize keeps what eager code rounds and clips
    # to uint8 (test_image_converter): the same pipeline, by hand.
    preprocessed = next(iter(tf.data.Dataset.from_tensor_slices(RAW).batch(3).map(classifier.preprocessor)))
    assert preprocessed.shape == (3, 64, 64, 3)
    np.testing.assert_allclose(predictions, np.asarray(classifier(preprocessed.numpy())), rtol=1e-5, atol=1e-5)


_JAX_SCRIPT = """
import json, sys
import keras, keras_hub, numpy as np
import swiftformer_keras.presets.image_classifier  # registers the SwiftFormer classes with Keras
preset, inputs, raw, out = sys.argv[1:]
classifier = keras_hub.models.ImageClassifier.from_preset(preset)
result = {
    "backend": keras.backend.backend(),
    "classes": [type(classifier).__name__, type(classifier.preprocessor.image_converter).__name__],
    "outputs": np.asarray(classifier(np.load(inputs))).tolist(),
    "preprocessed": np.asarray(classifier.preprocessor(np.load(raw))).tolist(),
}
with open(out, "w") as file:
    json.dump(result, file)
"""


def test_the_preset_loads_on_jax_with_the_same_outputs(classifier, preset, tmp_path):
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "raw.npy", RAW)
    out = tmp_path / "jax.json"
    # XLA's CPU code optimisations cost more compile time than they save on two images (20 s instead
    # of 30 s for the whole process, measured); the ops and their float32 arithmetic are the same.
    env = dict(os.environ, KERAS_BACKEND="jax", PYTHONPATH=ROOT, XLA_FLAGS="--xla_backend_optimization_level=0")
    arguments = [preset, str(tmp_path / "x.npy"), str(tmp_path / "raw.npy"), str(out)]
    subprocess.run([sys.executable, "-c", _JAX_SCRIPT, *arguments], check=True, env=env, capture_output=True)
    result = json.loads(out.read_text())
    assert result["backend"] == "jax"
    assert result["classes"] == ["SwiftFormerImageClassifier", "SwiftFormerImageConverter"]
    logits = np.asarray(classifier(X))
    difference = np.abs(np.asarray(result["outputs"]) - logits).max()
    print(f"logits (std {logits.std():.1f}): max |JAX - TensorFlow| {difference:.2e}")
    assert difference <= 1e-4
    # Eager preprocessing on each backend: Keras's resize of each, rounded to uint8 (measured: equal).
    preprocessed = np.asarray(result["preprocessed"])
    np.testing.assert_allclose(preprocessed, np.asarray(classifier.preprocessor(RAW)), rtol=0, atol=1e-6)
