"""What weights= can name, read through `load_weights`, the builders' one way into the weights stage."""

import os
import socket

import keras
import numpy as np
import pytest

from conftest import make_reference, reference_logits, write_checkpoint
from swiftformer_keras import SwiftFormer, SwiftFormerS, SwiftFormerXS
from swiftformer_keras.models.architecture import variant_config
from swiftformer_keras.models.builders import build_swiftformer
from swiftformer_keras.weights import hub, sources
from swiftformer_keras.weights.keras_files import model_attention, save_weights_atomically


def test_weights_h5_round_trip_and_wrong_variant(tmp_path, images):
    model = build_swiftformer("XS", classifier_activation=None, attention="token_softmax")
    path = str(tmp_path / "xs.weights.h5")
    save_weights_atomically(model, path, attention="token_softmax")
    loaded = SwiftFormerXS(weights=path, classifier_activation=None)
    np.testing.assert_allclose(np.asarray(loaded(images["square"])), np.asarray(model(images["square"])), atol=1e-6)
    assert model_attention(loaded) == "token_softmax"
    with pytest.raises(ValueError, match="holds 290 variables but SwiftFormer-S has 345"):
        SwiftFormerS(weights=path)


def test_weight_files_are_converted_and_read_without_building_a_model(tmp_path, monkeypatch):
    """weights checks files against architecture.variable_shapes, not against a twin model."""
    source = write_checkpoint(make_reference("XS", "l2"), "official", str(tmp_path))
    destination = str(tmp_path / "xs.weights.h5")

    def no_model(*args, **kwargs):
        raise AssertionError("a Keras model was built")

    monkeypatch.setattr(keras, "Model", no_model)
    sources.convert_to_keras_weights(source, destination)
    loaded = sources.load_weights(destination, variant_config("XS"), True, 1000, None)
    assert len(loaded.state) == 290 and loaded.attention == "l2"


def test_keras_file_weights_and_attention(tmp_path, images):
    model = build_swiftformer("XS", classifier_activation=None, attention="softmax")
    path = str(tmp_path / "xs.keras")
    model.save(path)
    loaded = SwiftFormerXS(weights=path, include_top=False, pooling="avg")
    assert model_attention(loaded) == "softmax"
    pooled = model.get_layer("avg_pool").output
    expected = keras.Model(model.input, pooled)(images["square"])
    np.testing.assert_allclose(np.asarray(loaded(images["square"])), np.asarray(expected), atol=1e-6)


def test_keras_file_that_is_not_a_swiftformer_is_refused(tmp_path):
    path = str(tmp_path / "dense.keras")
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]).save(path)
    with pytest.raises(ValueError, match="not a SwiftFormer"):
        SwiftFormerXS(weights=path)


def test_weights_that_name_a_folder_or_an_unknown_type(tmp_path):
    with pytest.raises(ValueError, match="is a folder, not a file"):
        SwiftFormerXS(weights=str(tmp_path))
    other = tmp_path / "w.npz"
    other.write_bytes(b"")
    with pytest.raises(ValueError, match=r"Unrecognised checkpoint type.*\.weights\.h5, \.keras, \.pth"):
        SwiftFormerXS(weights=str(other))


def test_no_weights_means_fresh_ones():
    assert sources.load_weights(None, variant_config("XS"), True, 1000, "softmax") is None
    with pytest.raises(
        ValueError, match="weights must be None, 'imagenet', 'imagenet_timm', 'imagenet_mbzuai' or a file path, got int"
    ):
        sources.load_weights(3, variant_config("XS"), True, 1000, None)


def test_imagenet_argument_errors(monkeypatch, tmp_path):
    """Refused before anything is fetched: the hub here is a port nobody answers at, so a download would
    end in an OSError, not these ValueErrors."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setenv(hub.BASE_URL_ENV, f"http://127.0.0.1:{port}")
    with pytest.raises(ValueError, match="classes=1000, got classes=10"):
        SwiftFormerXS(weights="imagenet", classes=10)
    with pytest.raises(ValueError, match="imagenet_timm weights of SwiftFormer-XS was trained with attention='l2'"):
        SwiftFormerXS(weights="imagenet", attention="softmax")
    with pytest.raises(ValueError, match="imagenet_mbzuai weights .* was trained with attention='softmax'"):
        SwiftFormerXS(weights="imagenet_mbzuai", attention="l2")
    with pytest.raises(ValueError, match="'imagenet_v2': no such file. Use None, 'imagenet', 'imagenet_timm'"):
        SwiftFormerXS(weights="imagenet_v2")
    with pytest.raises(ValueError, match="only for the variants"):
        SwiftFormer({"depths": (1, 1, 1, 1), "widths": (8, 8, 8, 8)}, weights="imagenet")
    with pytest.raises(ValueError, match="no such file"):
        SwiftFormerXS(weights="/nonexistent/file.pth")
    assert os.listdir(tmp_path) == []


def test_a_pytorch_file_records_no_attention_so_the_caller_may_name_it(tmp_path, images):
    """Its layout suggests one (transformers: "softmax"), but a transformers-layout file of "l2" weights exists."""
    reference = make_reference("XS", "l2", seed=2)
    path = write_checkpoint(reference, "hf", str(tmp_path))
    assert sources.load_weights(path, variant_config("XS"), True, 1000, None).attention == "softmax"
    model = SwiftFormerXS(weights=path, attention="l2", classifier_activation=None)
    assert np.abs(np.asarray(model(images["square"])) - reference_logits(reference, images["square"])).max() <= 1e-4


def test_assign_to_keeps_a_fresh_head_where_asked(tmp_path):
    config = variant_config({"depths": (1, 1, 2, 1), "widths": (8, 16, 24, 32)})
    trained = build_swiftformer(config, classes=5, input_shape=(64, 64, 3))
    path = str(tmp_path / "trained.weights.h5")
    save_weights_atomically(trained, path, attention="l2")
    loaded = sources.load_weights(path, config, False, 3, None)
    student = build_swiftformer(config, classes=3, input_shape=(64, 64, 3), attention=loaded.attention)
    fresh_head = [keras.ops.convert_to_numpy(v).copy() for v in student.weights if v.path.startswith("classifier/")]
    loaded.assign_to(student, keep_fresh=("classifier/",))
    for variable in student.weights:
        if variable.path.startswith("classifier/"):
            assert np.array_equal(keras.ops.convert_to_numpy(variable), fresh_head.pop(0))
        else:
            assert np.array_equal(keras.ops.convert_to_numpy(variable), loaded.state[variable.path])
