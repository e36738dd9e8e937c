"""The keras.applications builders: the variants and their facts, `weights=`, every backend, and
the files an older release wrote."""

import inspect
import json
import os
import re
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest

import swiftformer_keras as sfk
from conftest import FIXTURES, ROOT, make_reference, write_checkpoint
from swiftformer_keras import applications
from swiftformer_keras.models.architecture import VARIANTS
from swiftformer_keras.models.builders import build_swiftformer
from swiftformer_keras.utils.images import recorded_class_names, recorded_crop_pct
from swiftformer_keras.weights import hub, sources
from swiftformer_keras.weights.keras_files import load_keras_model_file, model_attention, save_weights_atomically

# Counted independently of the variant table, which the test checks: the paper's and the PyTorch reference's.
EXPECTED_PARAMS = {"XS": 3_475_360, "S": 6_092_128, "L1": 12_057_920, "L3": 28_494_736}


def _trainable_params(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


@pytest.mark.parametrize("variant", sorted(EXPECTED_PARAMS))
def test_parameter_counts_equal_the_reference_and_the_variant_table(variant):
    builder = getattr(sfk, f"SwiftFormer{variant}")
    model = builder()
    reference = make_reference(variant, "l2")
    torch_count = sum(p.numel() for p in reference.parameters())
    assert _trainable_params(model) == torch_count == EXPECTED_PARAMS[variant] == VARIANTS[variant]["parameters"]
    assert builder.__name__ == f"SwiftFormer{variant}"
    facts = VARIANTS[variant]
    assert f"{EXPECTED_PARAMS[variant]:,} parameters" in builder.__doc__
    assert f"top-1 {facts['top1']}%" in builder.__doc__ and f"{facts['gmacs']} GMACs" in builder.__doc__


def test_the_package_exports_the_builders_and_the_table():
    for name in ("SwiftFormer", "SwiftFormerXS", "SwiftFormerS", "SwiftFormerL1", "SwiftFormerL3"):
        assert getattr(sfk, name) is getattr(applications, name)
    assert sfk.VARIANTS is VARIANTS
    assert sfk.convert_to_keras_weights is sources.convert_to_keras_weights


def test_variant_builders_take_the_keras_applications_arguments_in_order():
    names = list(inspect.signature(sfk.SwiftFormerL1).parameters)
    assert names == [
        "include_top",
        "weights",
        "input_tensor",
        "input_shape",
        "pooling",
        "classes",
        "classifier_activation",
        "name",
        "kwargs",
    ]
    model = sfk.SwiftFormerXS(include_top=False, features=True, input_shape=(64, 64, 3))  # the rest by keyword
    assert len(model.outputs) == 4


def test_variant_names_and_custom_config():
    assert sfk.SwiftFormer("xs").name == "swiftformer_xs"
    tiny = sfk.SwiftFormer({"depths": (1, 1, 2, 1), "widths": (8, 16, 24, 32)}, classes=3)
    assert tiny.output_shape == (None, 3)
    with pytest.raises(ValueError, match="Unknown SwiftFormer variant 'M'.*'L1', 'L3', 'S', 'XS'"):
        sfk.SwiftFormer("M")
    with pytest.raises(ValueError, match="four positive entries"):
        sfk.SwiftFormer({"depths": (1, 1), "widths": (8, 8)})


@pytest.fixture
def no_hub(monkeypatch, tmp_path):
    """An empty cache and a hub nobody answers at: a download would fail with an OSError."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setenv(hub.BASE_URL_ENV, f"http://127.0.0.1:{port}")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"classes": "ten"}, "classes must be a whole number >= 1, got 'ten'"),
        ({"classes": 10}, "classes=1000, got classes=10"),
        ({"input_shape": (224, 224, 1)}, "3 input channels"),
        ({"input_shape": (100, 100, 3)}, "Input height 100 is not supported"),
    ],
)
def test_arguments_are_checked_before_any_download(no_hub, kwargs, message):
    with pytest.raises(ValueError, match=message):
        sfk.SwiftFormerXS(weights="imagenet", **kwargs)
    assert not os.path.exists(hub.cache_dir())


def test_a_loaded_file_fills_the_model_it_builds(tmp_path):
    model = build_swiftformer("XS", attention="token_softmax", input_shape=(64, 64, 3), classes=5)
    path = str(tmp_path / "xs.weights.h5")
    save_weights_atomically(model, path, attention="token_softmax")
    loaded = sfk.SwiftFormerXS(weights=path, input_shape=(64, 64, 3), classes=5)
    assert model_attention(loaded) == "token_softmax"
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(model.weights, loaded.weights, strict=True))


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
            sources.convert_to_keras_weights(source, path)
        model = sfk.SwiftFormerXS(weights=path, input_shape=(None, None, 3), classifier_activation=None)
        expected[attention] = np.asarray(model(x))
    backends = [b for b in ("tensorflow", "torch", "jax") if _backend_available(b)]
    assert {"tensorflow", "torch"} <= set(backends)
    for backend in backends:
        env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=ROOT)
        out = tmp_path / f"{backend}.json"
        subprocess.run(
            [sys.executable, "-c", _BACKEND_SCRIPT, str(tmp_path / "w"), str(tmp_path / "x.npy"), str(out)],
            check=True,
            env=env,
            capture_output=True,
        )
        result = json.loads(out.read_text())
        assert result["backend"] == backend
        for attention, values in result["results"].items():
            diff = np.abs(np.asarray(values) - expected[attention]).max()
            print(f"backend {backend:>10} {attention:>13}: max|diff| vs TF in-process {diff:.2e}")
            assert diff <= 1e-4, (backend, attention, diff)


MAIN_BRANCH_FILES = os.path.join(FIXTURES, "main-45c0207")
# The fixtures' model: conftest's TINY at narrower widths, 4 classes, 64x64, "softmax" attention.
FIXTURE_CONFIG = {"depths": (1, 1, 2, 1), "widths": (8, 16, 24, 32)}
FIXTURE_CLASSES = ["airplane", "automobile", "frog", "ship"]


def test_files_written_by_the_main_branch_still_load():
    """`tests/fixtures/main-45c0207/` holds a `.keras` model and a `.weights.h5` file that the main
    branch's code at 45c0207 (the flat-layout package, before issue 26 moved its modules into
    stages) wrote, as its training run writes them, and the probabilities and logits that code
    computed on the inputs stored beside them (`expected.npz`). `write_main_branch_files.py`
    there wrote all three, run against a worktree of that commit. Today's code must load both
    files into the same model: the registered layer names, the variable layout, the recorded
    attention ("softmax", not the builders' default), crop and class names."""
    expected = np.load(os.path.join(MAIN_BRANCH_FILES, "expected.npz"))
    assert str(expected["written_by"]).startswith("swiftformer_keras at 45c0207")
    inputs, tolerance = expected["inputs"], {"rtol": 1e-5, "atol": 1e-5}
    keras_file = os.path.join(MAIN_BRANCH_FILES, "tiny.keras")
    weights_file = os.path.join(MAIN_BRANCH_FILES, "tiny.weights.h5")

    # The .keras file, as Keras and the tools (--keras-model, --teacher) load it: the whole model.
    for model in (keras.saving.load_model(keras_file), load_keras_model_file(keras_file)):
        np.testing.assert_allclose(np.asarray(model(inputs, training=False)), expected["probabilities"], **tolerance)
        assert model_attention(model) == "softmax"
    # Both files as weights= of the builder, into a model with another head activation.
    for path in (keras_file, weights_file):
        model = sfk.SwiftFormer(
            FIXTURE_CONFIG, weights=path, classes=4, input_shape=(64, 64, 3), classifier_activation=None
        )
        np.testing.assert_allclose(np.asarray(model(inputs, training=False)), expected["logits"], **tolerance)
        assert model_attention(model) == "softmax"
        assert recorded_crop_pct(path) == pytest.approx(0.9) and recorded_class_names(path) == FIXTURE_CLASSES
    # The .weights.h5 file as Keras's own load_weights reads it.
    model = build_swiftformer(FIXTURE_CONFIG, classes=4, input_shape=(64, 64, 3), attention="softmax")
    model.load_weights(weights_file)
    np.testing.assert_allclose(np.asarray(model(inputs, training=False)), expected["probabilities"], **tolerance)
    with pytest.raises(ValueError, match=re.escape("trained with attention='softmax'")):
        sfk.SwiftFormer(FIXTURE_CONFIG, weights=weights_file, classes=4, attention="l2")


def test_the_fixtures_are_small():
    sizes = {name: os.path.getsize(os.path.join(MAIN_BRANCH_FILES, name)) for name in os.listdir(MAIN_BRANCH_FILES)}
    assert sizes and max(sizes.values()) < 1 << 20, sizes
