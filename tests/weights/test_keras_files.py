"""Keras files: `.weights.h5` read and written strictly where Keras puts each variable, `.keras` files
checked before Keras reads them, and a state put into a built model all or nothing."""

import os
import types
import warnings
import zipfile

import keras
import numpy as np
import pytest

from conftest import make_reference, write_checkpoint
from swiftformer_keras import SwiftFormerXS
from swiftformer_keras.lite import pipeline as conversion
from swiftformer_keras.models.architecture import variant_config
from swiftformer_keras.models.builders import build_swiftformer
from swiftformer_keras.training import distillation
from swiftformer_keras.weights import checkpoints, keras_files

TINY = {"depths": (2, 1, 3, 1), "widths": (8, 16, 24, 32)}


def test_weights_h5_of_same_structure_but_other_widths_is_refused(tmp_path):
    other = build_swiftformer({"depths": (3, 3, 6, 4), "widths": (32, 64, 96, 128)})
    path = str(tmp_path / "other.weights.h5")
    other.save_weights(path)
    with pytest.raises(ValueError, match="does not match SwiftFormer-XS"):
        keras_files.read_keras_weights_file(path, variant_config("XS"))


def test_truncated_weights_h5_is_refused(tmp_path):
    path = tmp_path / "xs.weights.h5"
    build_swiftformer("XS").save_weights(str(path))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(ValueError, match="not a readable .weights.h5"):
        keras_files.read_keras_weights_file(str(path), variant_config("XS"))
    with pytest.raises(ValueError, match="not a readable .weights.h5"):
        keras_files.saved_attention_of(str(path))


def _distinct_values(model, seed=0):
    """Every variable re-drawn, BatchNorm statistics included, so that a misplaced one shows."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        variable.assign(rng.normal(size=variable.shape).astype("float32"))
    return {v.path: keras.ops.convert_to_numpy(v) for v in model.weights}


@pytest.mark.parametrize("kwargs", [{"classes": 5}, {"include_top": False}, {"include_top": False, "features": True}])
def test_weights_h5_is_read_from_where_keras_writes_it(tmp_path, kwargs):
    config = variant_config(TINY)
    model = build_swiftformer(config, input_shape=(64, 64, 3), **kwargs)
    expected = _distinct_values(model)
    path = str(tmp_path / "saved.weights.h5")
    model.save_weights(path)
    state = keras_files.read_keras_weights_file(path, config)
    assert list(state) == list(expected)
    assert all(np.array_equal(state[k], expected[k]) and state[k].dtype == np.float32 for k in expected)


@pytest.mark.parametrize("kwargs", [{"classes": 5}, {"include_top": False}])
def test_a_written_weights_h5_loads_in_keras(tmp_path, kwargs):
    config = variant_config(TINY)
    expected = _distinct_values(build_swiftformer(config, input_shape=(64, 64, 3), **kwargs))
    path = str(tmp_path / "written.weights.h5")
    keras_files.write_keras_weights_file(expected, config, path, attention="softmax")
    assert keras_files.saved_attention_of(path) == "softmax" and os.listdir(tmp_path) == ["written.weights.h5"]
    model = build_swiftformer(config, input_shape=(64, 64, 3), **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Keras only warns where it skips a variable
        model.load_weights(path)
    assert all(np.array_equal(keras.ops.convert_to_numpy(v), expected[v.path]) for v in model.weights)


def test_a_written_weights_h5_must_fill_the_model_exactly(tmp_path):
    config = variant_config(TINY)
    state = _distinct_values(build_swiftformer(config, classes=5))
    path = str(tmp_path / "out.weights.h5")
    missing = {k: v for k, v in state.items() if k != "stage2_block1/norm/beta"}
    with pytest.raises(ValueError, match="does not fill the model variable 'stage2_block1/norm/beta'"):
        keras_files.write_keras_weights_file(missing, config, path)
    with pytest.raises(ValueError, match="1 entries the model does not use, first 'stage9_block0/x'"):
        keras_files.write_keras_weights_file({**state, "stage9_block0/x": np.zeros(3)}, config, path)
    wrong = {**state, "stem/conv1/bias": np.zeros(5, "float32")}
    with pytest.raises(ValueError, match="'stem/conv1/bias' has shape \\(5,\\) in the checkpoint but \\(4,\\)"):
        keras_files.write_keras_weights_file(wrong, config, path)
    assert os.listdir(tmp_path) == []


def test_a_bfloat16_weights_h5_is_read_as_float32(tmp_path):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("bfloat16")
    try:
        model = build_swiftformer(TINY, classes=5)
    finally:
        keras.config.set_dtype_policy(previous)
    path = str(tmp_path / "bf16.weights.h5")
    model.save_weights(path)
    state = keras_files.read_keras_weights_file(path, variant_config(TINY))
    for variable in model.weights:
        expected = keras.ops.convert_to_numpy(keras.ops.cast(variable, "float32"))
        assert state[variable.path].dtype == np.float32 and np.array_equal(state[variable.path], expected)


def test_load_keras_model_file_says_what_is_wrong_with_the_file(tmp_path):
    with pytest.raises(ValueError, match="absent.keras' does not exist"):
        keras_files.load_keras_model_file(tmp_path / "absent.keras")
    with pytest.raises(ValueError, match="is a folder, not a .keras file"):
        keras_files.load_keras_model_file(tmp_path)
    text = tmp_path / "model.keras"
    text.write_text("hello")
    with pytest.raises(ValueError, match="model.keras' exists but is not a Keras .keras model .it is not a zip"):
        keras_files.load_keras_model_file(text)
    empty = tmp_path / "empty.keras"
    with zipfile.ZipFile(empty, "w") as archive:
        archive.writestr("notes.txt", "x")
    with pytest.raises(ValueError, match="empty.keras' exists but is not a Keras .keras model .it has no config.json"):
        keras_files.load_keras_model_file(empty)
    good = tmp_path / "dense.keras"
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]).save(good)
    assert keras_files.load_keras_model_file(good).output_shape == (None, 2)


def test_keras_model_and_teacher_files_are_checked_by_load_keras_model_file(tmp_path):
    """conversion --keras-model and train --teacher used to say 'File not found' for a file that exists."""
    text = tmp_path / "model.keras"
    text.write_text("hello")
    with pytest.raises(ValueError, match="exists but is not a Keras .keras model"):
        conversion.load_keras_model(keras_model=str(text))
    with pytest.raises(ValueError, match="exists but is not a Keras .keras model"):
        distillation.build_training_model(types.SimpleNamespace(teacher=str(text), label_smoothing=0.0), None, 10)
    with pytest.raises(ValueError, match="exists but is not a Keras .keras model"):
        SwiftFormerXS(weights=str(text))


def test_a_refused_checkpoint_leaves_no_half_loaded_model(tmp_path):
    """assign_state checks everything before it assigns anything."""
    reference = make_reference("XS", "l2")
    path = write_checkpoint(reference, "official", str(tmp_path))
    state, _, _ = checkpoints.load_torch_checkpoint(path)
    state["classifier/head/kernel"] = state["classifier/head/kernel"][:, :10]
    model = build_swiftformer("XS")
    before = [keras.ops.convert_to_numpy(v).copy() for v in model.weights]
    with pytest.raises(ValueError, match="classifier/head/kernel"):
        keras_files.assign_state(model, state)
    after = [keras.ops.convert_to_numpy(v) for v in model.weights]
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))


def test_the_attention_and_classes_a_weights_file_records(tmp_path):
    model = build_swiftformer(TINY, classes=5, input_shape=(64, 64, 3), attention="token_softmax")
    recorded, bare = str(tmp_path / "recorded.weights.h5"), str(tmp_path / "bare.weights.h5")
    keras_files.save_weights_atomically(model, recorded, attention=keras_files.model_attention(model))
    model.save_weights(bare)
    assert keras_files.saved_attention_of(recorded) == "token_softmax" and keras_files.saved_attention_of(bare) is None
    assert keras_files.saved_classes(recorded) == 5
    backbone = str(tmp_path / "backbone.weights.h5")
    build_swiftformer(TINY, include_top=False).save_weights(backbone)
    assert keras_files.saved_classes(backbone) is None


def test_model_attention_finds_the_attention_in_nested_models():
    inner = build_swiftformer(TINY, classes=5, input_shape=(64, 64, 3), attention="softmax")
    inputs = keras.Input((64, 64, 3))
    assert keras_files.model_attention(keras.Model(inputs, inner(inputs))) == "softmax"
    with pytest.raises(ValueError, match="'dense' is not a SwiftFormer"):
        keras_files.model_attention(keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)], name="dense"))
