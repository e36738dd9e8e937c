"""The builders: parameter counts, arguments, save/load and backends."""

import json
import os
import re
import subprocess
import sys

import keras
import numpy as np
import pytest

import swiftformer_keras as sfk
from conftest import ROOT, make_reference
from swiftformer_keras.models.builders import build_swiftformer, count_macs

EXPECTED_PARAMS = {"XS": 3_475_360, "S": 6_092_128, "L1": 12_057_920, "L3": 28_494_736}


def _trainable_params(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


@pytest.mark.parametrize("variant", sorted(EXPECTED_PARAMS))
def test_parameter_counts_equal_the_reference(variant):
    builder = getattr(sfk, f"SwiftFormer{variant}")
    model = builder()
    reference = make_reference(variant, "l2")
    torch_count = sum(p.numel() for p in reference.parameters())
    assert _trainable_params(model) == torch_count == EXPECTED_PARAMS[variant]
    assert builder.__name__ == f"SwiftFormer{variant}"
    assert f"{EXPECTED_PARAMS[variant]:,}" in builder.__doc__


def test_variant_names_and_custom_config():
    assert sfk.SwiftFormer("xs").name == "swiftformer_xs"
    tiny = sfk.SwiftFormer({"depths": (1, 1, 2, 1), "widths": (8, 16, 24, 32)}, classes=3)
    assert tiny.output_shape == (None, 3)
    with pytest.raises(ValueError, match="Unknown SwiftFormer variant 'M'.*'L1', 'L3', 'S', 'XS'"):
        sfk.SwiftFormer("M")
    with pytest.raises(ValueError, match="four positive entries"):
        sfk.SwiftFormer({"depths": (1, 1), "widths": (8, 8)})


@pytest.mark.parametrize(
    "input_shape", [(224, 224, 3), (256, 320, 3), (64, 64, 3), (None, None, 3), (None, 128, 3)]
)
def test_input_sizes(input_shape):
    model = sfk.SwiftFormerXS(include_top=False, pooling="avg", input_shape=input_shape)
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
    ],
)
def test_bad_input_sizes_are_refused(input_shape, message):
    with pytest.raises(ValueError, match=message):
        sfk.SwiftFormerXS(input_shape=input_shape)


@pytest.mark.parametrize("classes", ["ten", 0, -1, 2.5, True, None])
def test_a_bad_class_count_is_refused_by_name(classes):
    message = rf"classes must be a whole number >= 1, got {re.escape(repr(classes))}"
    with pytest.raises(ValueError, match=message):
        sfk.SwiftFormerXS(classes=classes, weights=None)
    with pytest.raises(ValueError, match=message):
        build_swiftformer("XS", classes=classes)


def test_a_whole_class_count_of_any_number_type_is_accepted():
    assert sfk.SwiftFormerXS(classes=np.int64(7), input_shape=(64, 64, 3)).output_shape == (None, 7)
    assert build_swiftformer("XS", classes=7.0, input_shape=(64, 64, 3)).output_shape == (None, 7)


def test_heads_pooling_and_features():
    x = np.random.RandomState(0).rand(2, 224, 224, 3).astype("float32")
    probabilities = np.asarray(sfk.SwiftFormerXS()(x))
    np.testing.assert_allclose(probabilities.sum(1), 1.0, atol=1e-5)
    assert sfk.SwiftFormerXS(classes=10, classifier_activation=None).output_shape == (None, 10)
    assert sfk.SwiftFormerXS(include_top=False).output_shape == (None, None, None, 220)
    assert sfk.SwiftFormerXS(include_top=False, pooling="max").output_shape == (None, 220)
    features = sfk.SwiftFormerXS(include_top=False, features=True, input_shape=(256, 320, 3))
    assert [tuple(s) for s in features.output_shape] == [
        (None, 64, 80, 48), (None, 32, 40, 56), (None, 16, 20, 112), (None, 8, 10, 220)
    ]
    with pytest.raises(ValueError, match="include_top=False"):
        sfk.SwiftFormerXS(features=True)
    with pytest.raises(ValueError, match="pooling must be"):
        sfk.SwiftFormerXS(include_top=False, pooling="mean")


def test_input_tensor_and_name():
    inputs = keras.Input((128, 128, 3))
    model = sfk.SwiftFormerS(include_top=False, pooling="avg", input_tensor=inputs, name="backbone")
    assert model.name == "backbone" and model.input_shape == (None, 128, 128, 3)
    with pytest.raises(ValueError, match="disagrees with input_tensor"):
        sfk.SwiftFormerS(input_tensor=inputs, input_shape=(224, 224, 3))


def test_distillation_outputs_share_weights_with_the_average():
    both = sfk.SwiftFormerXS(distillation_outputs=True, classifier_activation=None)
    average = sfk.SwiftFormerXS(classifier_activation=None)
    average.set_weights(both.get_weights())
    x = np.random.RandomState(1).rand(2, 224, 224, 3).astype("float32")
    head, dist = (np.asarray(t) for t in both(x))
    np.testing.assert_allclose(np.asarray(average(x)), (head + dist) / 2, atol=1e-5)


def test_training_step_updates_weights_and_uses_stochastic_depth():
    model = sfk.SwiftFormer(
        {"depths": (1, 1, 2, 1), "widths": (8, 16, 24, 32)},
        classes=3,
        drop_path_rate=0.3,
        input_shape=(64, 64, 3),
    )
    rates = [l.drop_path_rate for l in model.layers if hasattr(l, "drop_path_rate")]
    assert rates[0] == 0.0 and rates[-1] == pytest.approx(0.3)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = np.random.RandomState(0).rand(8, 64, 64, 3).astype("float32")
    y = np.arange(8) % 3
    before = [w.copy() for w in model.get_weights()]
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_keras_and_weights_h5_round_trips(tmp_path):
    model = sfk.SwiftFormerXS(attention="softmax", input_shape=(None, None, 3))
    x = np.random.RandomState(2).rand(1, 192, 256, 3).astype("float32")
    expected = np.asarray(model(x))
    model.save(str(tmp_path / "m.keras"))
    restored = keras.saving.load_model(str(tmp_path / "m.keras"))
    np.testing.assert_allclose(np.asarray(restored(x)), expected, atol=1e-6)
    model.save_weights(str(tmp_path / "m.weights.h5"))
    twin = sfk.SwiftFormerXS(attention="softmax", input_shape=(None, None, 3))
    twin.load_weights(str(tmp_path / "m.weights.h5"))
    np.testing.assert_allclose(np.asarray(twin(x)), expected, atol=1e-6)


_BACKEND_SCRIPT = """
import json, sys, numpy as np, keras, swiftformer_keras as sfk
weights, inputs, output = sys.argv[1:]
results = {}
for attention in ("l2", "softmax", "token_softmax"):
    model = sfk.SwiftFormerXS(weights=weights + attention + ".weights.h5",
                              input_shape=(None, None, 3), classifier_activation=None)
    x = np.load(inputs)
    results[attention] = keras.ops.convert_to_numpy(model(x, training=False)).tolist()
json.dump({"backend": keras.backend.backend(), "results": results}, open(output, "w"))
"""


def _backend_available(backend):
    module = {"jax": "jax", "torch": "torch", "tensorflow": "tensorflow"}[backend]
    return subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True).returncode == 0


def test_same_outputs_on_every_backend(tmp_path):
    from conftest import write_checkpoint
    from swiftformer_keras.weights.sources import convert_to_keras_weights, save_weights_atomically

    x = np.random.RandomState(3).randn(2, 160, 224, 3).astype("float32")
    np.save(tmp_path / "x.npy", x)
    expected = {}
    for attention in ("l2", "softmax", "token_softmax"):
        path = str(tmp_path / f"w{attention}.weights.h5")
        if attention == "token_softmax":  # no published weights: a random model
            model = build_swiftformer("XS", attention=attention, input_shape=(None, None, 3))
            save_weights_atomically(model, path, attention=attention)
        else:  # realistic logits from the calibrated reference weights
            layout = "official" if attention == "l2" else "hf"
            source = write_checkpoint(make_reference("XS", attention), layout, str(tmp_path), attention)
            convert_to_keras_weights(source, path)
        model = sfk.SwiftFormerXS(weights=path, input_shape=(None, None, 3), classifier_activation=None)
        expected[attention] = np.asarray(model(x))
    backends = [b for b in ("tensorflow", "torch", "jax") if _backend_available(b)]
    assert {"tensorflow", "torch"} <= set(backends)
    for backend in backends:
        env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=ROOT)
        out = tmp_path / f"{backend}.json"
        subprocess.run(
            [sys.executable, "-c", _BACKEND_SCRIPT, str(tmp_path / "w"), str(tmp_path / "x.npy"), str(out)],
            check=True, env=env, capture_output=True,
        )
        result = json.loads(out.read_text())
        assert result["backend"] == backend
        for attention, values in result["results"].items():
            diff = np.abs(np.asarray(values) - expected[attention]).max()
            print(f"backend {backend:>10} {attention:>13}: max|diff| vs TF in-process {diff:.2e}")
            assert diff <= 1e-4, (backend, attention, diff)


def test_mixed_precision_computes_in_bfloat16_with_a_float32_head():
    previous = keras.config.dtype_policy()
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    try:
        model = sfk.SwiftFormerXS(classifier_activation=None)
    finally:
        keras.mixed_precision.set_dtype_policy(previous)
    block = model.get_layer("stage3_block3")
    assert block.attn.to_query.compute_dtype == "bfloat16"
    assert block.linear.fc1.variable_dtype == "float32"
    assert model.get_layer("classifier").head.compute_dtype == "float32"
    y = model(np.random.RandomState(0).rand(1, 224, 224, 3).astype("float32"))
    assert keras.backend.standardize_dtype(y.dtype) == "float32" and np.isfinite(np.asarray(y)).all()


@pytest.mark.parametrize("variant, paper_gmacs", [("XS", 0.6), ("S", 1.0)])
def test_mac_count_matches_the_paper(variant, paper_gmacs):
    model = build_swiftformer(variant, classifier_activation=None)
    assert count_macs(model) / 1e9 == pytest.approx(paper_gmacs, rel=0.05)
