"""SwiftFormer (ICCV 2023) in Keras 3, with the keras.applications API.

    import swiftformer_keras as sfk
    model = sfk.SwiftFormerXS(weights="imagenet")

The model API is loaded when it is first used, so that `import swiftformer_keras`
and the command lines' `--help` do not start TensorFlow; the start-up lines of
the Keras backend are dropped then (`cli.quiet_startup`). It needs Keras with a
backend (TensorFlow, JAX or PyTorch). Where `import keras` fails, as in an
environment made for running .tflite files (`pip install
'swiftformer-keras[tflite-runtime]'` pulls Keras but no backend), the package and
its Keras-free modules (`lite.interpreter`, `utils.cli`, `utils.files`, `utils.images`) still
import, and a model name such as `SwiftFormerS` raises an ImportError that says
what to install.

The folders are the stages the data flows through, each importing only those
before it: `utils` < `models` (the graph) < `weights` < `applications` (the
builders with weights) < `training` and `lite` (siblings: Keras -> .tflite). The
command lines over them are `train`, `evaluate`, `convert_weights` and `to_tflite`.
"""

import importlib

from swiftformer_keras.utils import cli
from swiftformer_keras.utils.images import decode_predictions, load_image, preprocess_input
from swiftformer_keras.utils.version import VERSION as __version__  # noqa: F401  (the package's public version)

# The model API: each public name and the module it lives in, imported on first use.
_KERAS_API = {
    "VARIANTS": "swiftformer_keras.models.architecture",
    **dict.fromkeys(
        (
            "ConvEncoder",
            "DistilledClassifier",
            "DownsampleEmbedding",
            "DropPath",
            "EfficientAdditiveAttention",
            "LayerScale",
            "LocalRepresentation",
            "Mlp",
            "Stem",
            "SwiftFormerBlock",
        ),
        "swiftformer_keras.models.layers",
    ),
    **dict.fromkeys(
        ("SwiftFormer", "SwiftFormerXS", "SwiftFormerS", "SwiftFormerL1", "SwiftFormerL3"),
        "swiftformer_keras.applications",
    ),
    "convert_to_keras_weights": "swiftformer_keras.weights.sources",
}

__all__ = ["decode_predictions", "load_image", "preprocess_input", *_KERAS_API]


def __getattr__(name):
    """The model API, imported when first asked for (PEP 562)."""
    if name not in _KERAS_API:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _KERAS_API[name] != "swiftformer_keras.models.architecture":  # the variant table needs no Keras
        cli.import_keras(f"swiftformer_keras.{name}")
    value = getattr(importlib.import_module(_KERAS_API[name]), name)
    globals()[name] = value  # found directly from now on
    return value


def __dir__():
    return __all__
