"""The graph: shapes, heads, arguments, save/load, mixed precision and MACs of `build_swiftformer`."""

import re

import keras
import numpy as np
import pytest

from swiftformer_keras.models.architecture import VARIANTS
from swiftformer_keras.models.builders import build_swiftformer, count_macs


@pytest.mark.parametrize("input_shape", [(224, 224, 3), (256, 320, 3), (64, 64, 3), (None, None, 3), (None, 128, 3)])
def test_input_sizes(input_shape):
    model = build_swiftformer("XS", include_top=False, pooling="avg", input_shape=input_shape)
    height = input_shape[0] or 96
    width = input_shape[1] or 160
    y = model(np.zeros((1, height, width, 3), "float32"))
    assert y.shape == (1, 220)


@pytest.mark.parametrize(
    "input_shape, message",
    [
        ((32, 32, 3), "height 32 is not supported.*multiple of 32 that is at least 64"),
        ((224, 100, 3), "width 100 is not supported.*e.g. 128"),
        ((224, 224), r"must be \(height, width, channels\)"),
        ((224, 224, None), "channel count of input_shape must be known"),
    ],
)
def test_bad_input_sizes_are_refused(input_shape, message):
    with pytest.raises(ValueError, match=message):
        build_swiftformer("XS", input_shape=input_shape)


def test_pretrained_weights_need_rgb_input():
    with pytest.raises(ValueError, match="3 input channels"):
        build_swiftformer("XS", input_shape=(64, 64, 1), channels_required=True)
    assert build_swiftformer("XS", input_shape=(64, 64, 1)).input_shape == (None, 64, 64, 1)


@pytest.mark.parametrize("classes", ["ten", 0, -1, 2.5, True, None])
def test_a_bad_class_count_is_refused_by_name(classes):
    with pytest.raises(ValueError, match=rf"classes must be a whole number >= 1, got {re.escape(repr(classes))}"):
        build_swiftformer("XS", classes=classes)


def test_a_whole_class_count_of_any_number_type_is_accepted():
    assert build_swiftformer("XS", classes=np.int64(7), input_shape=(64, 64, 3)).output_shape == (None, 7)
    assert build_swiftformer("XS", classes=7.0, input_shape=(64, 64, 3)).output_shape == (None, 7)


def test_heads_pooling_and_features():
    x = np.random.RandomState(0).rand(2, 224, 224, 3).astype("float32")
    probabilities = np.asarray(build_swiftformer("XS")(x))
    np.testing.assert_allclose(probabilities.sum(1), 1.0, atol=1e-5)
    assert build_swiftformer("XS", classes=10, classifier_activation=None).output_shape == (None, 10)
    assert build_swiftformer("XS", include_top=False).output_shape == (None, None, None, 220)
    assert build_swiftformer("XS", include_top=False, pooling="max").output_shape == (None, 220)
    features = build_swiftformer("XS", include_top=False, features=True, input_shape=(256, 320, 3))
    assert [tuple(s) for s in features.output_shape] == [
        (None, 64, 80, 48),
        (None, 32, 40, 56),
        (None, 16, 20, 112),
        (None, 8, 10, 220),
    ]
    with pytest.raises(ValueError, match="include_top=False"):
        build_swiftformer("XS", features=True)
    with pytest.raises(ValueError, match="pooling must be"):
        build_swiftformer("XS", include_top=False, pooling="mean")
    with pytest.raises(ValueError, match=r"drop_path_rate must be in \[0, 1\)"):
        build_swiftformer("XS", drop_path_rate=1.0)


def test_input_tensor_and_name():
    inputs = keras.Input((128, 128, 3))
    model = build_swiftformer("S", include_top=False, pooling="avg", input_tensor=inputs, name="backbone")
    assert model.name == "backbone" and model.input_shape == (None, 128, 128, 3)
    assert build_swiftformer("s").name == "swiftformer_s"
    with pytest.raises(ValueError, match="disagrees with input_tensor"):
        build_swiftformer("S", input_tensor=inputs, input_shape=(224, 224, 3))


def test_distillation_outputs_share_weights_with_the_average():
    both = build_swiftformer("XS", distillation_outputs=True, classifier_activation=None)
    average = build_swiftformer("XS", classifier_activation=None)
    average.set_weights(both.get_weights())
    x = np.random.RandomState(1).rand(2, 224, 224, 3).astype("float32")
    head, dist = (np.asarray(t) for t in both(x))
    np.testing.assert_allclose(np.asarray(average(x)), (head + dist) / 2, atol=1e-5)


def test_training_step_updates_weights_and_uses_stochastic_depth():
    model = build_swiftformer(
        {"depths": (1, 1, 2, 1), "widths": (8, 16, 24, 32)},
        classes=3,
        drop_path_rate=0.3,
        input_shape=(64, 64, 3),
    )
    rates = [layer.drop_path_rate for layer in model.layers if hasattr(layer, "drop_path_rate")]
    assert rates[0] == 0.0 and rates[-1] == pytest.approx(0.3)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = np.random.RandomState(0).rand(8, 64, 64, 3).astype("float32")
    y = np.arange(8) % 3
    before = [w.copy() for w in model.get_weights()]
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))


def test_keras_and_weights_h5_round_trips(tmp_path):
    model = build_swiftformer("XS", attention="softmax", input_shape=(None, None, 3))
    x = np.random.RandomState(2).rand(1, 192, 256, 3).astype("float32")
    expected = np.asarray(model(x))
    model.save(str(tmp_path / "m.keras"))
    restored = keras.saving.load_model(str(tmp_path / "m.keras"))
    np.testing.assert_allclose(np.asarray(restored(x)), expected, atol=1e-6)
    model.save_weights(str(tmp_path / "m.weights.h5"))
    twin = build_swiftformer("XS", attention="softmax", input_shape=(None, None, 3))
    twin.load_weights(str(tmp_path / "m.weights.h5"))
    np.testing.assert_allclose(np.asarray(twin(x)), expected, atol=1e-6)


def test_mixed_precision_computes_in_bfloat16_with_a_float32_head():
    previous = keras.config.dtype_policy()
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    try:
        model = build_swiftformer("XS", classifier_activation=None)
    finally:
        keras.mixed_precision.set_dtype_policy(previous)
    block = model.get_layer("stage3_block3")
    assert block.attn.to_query.compute_dtype == "bfloat16"
    assert block.linear.fc1.variable_dtype == "float32"
    assert model.get_layer("classifier").head.compute_dtype == "float32"
    y = model(np.random.RandomState(0).rand(1, 224, 224, 3).astype("float32"))
    assert keras.backend.standardize_dtype(y.dtype) == "float32" and np.isfinite(np.asarray(y)).all()


@pytest.mark.parametrize("variant", ["XS", "S"])
def test_mac_count_matches_the_paper(variant):
    """The GMACs of the variant table (the paper's, printed in the builders' docstrings)."""
    model = build_swiftformer(variant, classifier_activation=None)
    assert count_macs(model) / 1e9 == pytest.approx(VARIANTS[variant]["gmacs"], rel=0.05)
