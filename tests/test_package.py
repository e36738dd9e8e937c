"""The package top (`swiftformer_keras/__init__.py`): the model API on first use, the KerasHub classes beside
the builders, and the registration that lets Keras and KerasHub load saved files after a plain import."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import swiftformer_keras as sfk
from conftest import ROOT, TINY


def _python(code, *args):
    done = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=ROOT),
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def test_the_import_alone_starts_no_keras():
    assert _python("import sys, swiftformer_keras; print(sorted({'keras', 'keras_hub'} & set(sys.modules)))") == "[]"


def test_keras_hub_classes_are_built_as_keras_hubs_own_families():
    backbone = sfk.SwiftFormerBackbone(variant="XS")
    classifier = sfk.SwiftFormerImageClassifier(backbone=backbone, num_classes=7)
    assert backbone.count_params() == sfk.SwiftFormerXS(include_top=False).count_params()
    assert classifier(np.zeros((1, 224, 224, 3), "float32")).shape == (1, 7)
    assert sfk.SwiftFormerImageConverter(image_size=(64, 64), crop_pct=0.95).crop_pct == 0.95
    assert isinstance(sfk.SwiftFormerImageClassifierPreprocessor(), sfk.SwiftFormerImageClassifierPreprocessor)


def test_after_keras_a_plain_import_lets_keras_load_a_saved_model(tmp_path):
    """Keras finds custom layers by registered name: the import registers them where Keras is loaded."""
    model = sfk.SwiftFormer(TINY, classes=3, input_shape=(64, 64, 3))
    path = tmp_path / "tiny.keras"
    model.save(path)
    x = np.random.default_rng(0).standard_normal((1, 64, 64, 3)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    code = (
        "import sys, keras, numpy as np, swiftformer_keras\n"
        "model = keras.saving.load_model(sys.argv[1])\n"
        "print(float(np.asarray(model(np.load(sys.argv[2]))).sum()))"
    )
    found = float(_python(code, path, tmp_path / "x.npy"))
    assert found == pytest.approx(float(np.asarray(model(x)).sum()), abs=1e-5)


def test_after_keras_hub_a_plain_import_lets_keras_hub_load_a_preset(tmp_path):
    backbone = sfk.SwiftFormerBackbone(variant=TINY, image_shape=(64, 64, 3))
    classifier = sfk.SwiftFormerImageClassifier(backbone=backbone, num_classes=3)
    classifier.save_to_preset(str(tmp_path / "preset"))
    x = np.random.default_rng(1).standard_normal((1, 64, 64, 3)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    code = (
        "import sys, keras_hub, numpy as np, swiftformer_keras\n"
        "classifier = keras_hub.models.ImageClassifier.from_preset(sys.argv[1])\n"
        "print(type(classifier).__name__, float(np.asarray(classifier(np.load(sys.argv[2]))).sum()))"
    )
    name, value = _python(code, tmp_path / "preset", tmp_path / "x.npy").split()
    assert name == "SwiftFormerImageClassifier"
    assert float(value) == pytest.approx(float(np.asarray(classifier(x)).sum()), abs=1e-5)


def test_without_keras_hub_its_classes_say_what_to_install():
    code = (
        "import sys\nsys.modules['keras_hub'] = None  # as where it is not installed\n"
        "import swiftformer_keras as sfk\n"
        "try:\n    sfk.SwiftFormerBackbone\nexcept ImportError as error:\n    print(repr(str(error)))"
    )
    message = _python(code)
    assert "SwiftFormerBackbone, a KerasHub class, needs KerasHub" in message
    assert "pip install 'swiftformer-keras[keras-hub]'" in message
    assert "\\n" not in message


def test_the_public_names_are_listed():
    assert {"SwiftFormerBackbone", "SwiftFormerImageClassifier", "SwiftFormerXS", "preprocess_input"} <= set(dir(sfk))
    assert keras.saving.get_registered_name(sfk.SwiftFormerImageClassifier) == (
        "swiftformer_keras>SwiftFormerImageClassifier"
    )
