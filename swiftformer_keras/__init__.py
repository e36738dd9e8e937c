"""SwiftFormer (ICCV 2023) in Keras 3, with the keras.applications API, and as a KerasHub family.

    import swiftformer_keras as sfk
    model = sfk.SwiftFormerXS(weights="imagenet")
    backbone = sfk.SwiftFormerBackbone(variant="XS")                   # needs keras-hub
    classifier = sfk.SwiftFormerImageClassifier(backbone=backbone, num_classes=10)

The model API is loaded when it is first used, so that `import swiftformer_keras`
and the command lines' `--help` do not start TensorFlow; the start-up lines of
the Keras backend are dropped then (`cli.quiet_startup`). It needs Keras with a
backend (TensorFlow, JAX or PyTorch). Where `import keras` fails, as in an
environment made for running .tflite files (`pip install
'swiftformer-keras[tflite-runtime]'` pulls Keras but no backend), the package and
its Keras-free modules (`lite.interpreter`, `utils.cli`, `utils.files`, `utils.images`) still
import, and a model name such as `SwiftFormerS` raises an ImportError that says
what to install.

Keras finds the package's classes by their registered names when it loads a
`.keras` file or a KerasHub preset (`keras_hub.models.ImageClassifier.from_preset`),
so they must be registered first: any model name above does it, and `import
swiftformer_keras` does it at once where Keras (for the layers) or KerasHub (for its
classes too) is already imported: `import keras_hub, swiftformer_keras`.

The folders are the stages the data flows through, each importing only those
before it: `utils` < `models` (the graph) < `weights` < `applications` (the
builders with weights) < `training` and `lite` (siblings: Keras -> .tflite). The
command lines over them are `train`, `evaluate`, `convert_weights` and `to_tflite`.
"""

import importlib
import sys

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
    # KerasHub's family of SwiftFormer (the `keras-hub` extra).
    "SwiftFormerBackbone": "swiftformer_keras.presets.backbone",
    "SwiftFormerImageClassifier": "swiftformer_keras.presets.image_classifier",
    "SwiftFormerImageClassifierPreprocessor": "swiftformer_keras.presets.image_classifier_preprocessor",
    "SwiftFormerImageConverter": "swiftformer_keras.presets.image_converter",
    **dict.fromkeys(("classifier_from_model", "model_from_classifier"), "swiftformer_keras.presets.flat_models"),
}
_KERAS_HUB_MODULES = sorted({module for module in _KERAS_API.values() if ".presets." in module})

__all__ = ["decode_predictions", "load_image", "preprocess_input", *_KERAS_API]


def __getattr__(name):
    """The model API, imported when first asked for (PEP 562)."""
    if name not in _KERAS_API:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _KERAS_API[name] != "swiftformer_keras.models.architecture":  # the variant table needs no Keras
        cli.import_keras(f"swiftformer_keras.{name}")
    if _KERAS_API[name] in _KERAS_HUB_MODULES:
        cli.import_keras_hub(f"swiftformer_keras.{name}, a KerasHub class,")
    value = getattr(importlib.import_module(_KERAS_API[name]), name)
    globals()[name] = value  # found directly from now on
    return value


def _register_where_keras_is_loaded():
    """Registers the Keras classes now where Keras, or KerasHub, is imported already (their import
    is then free), so that loading a `.keras` file or a preset needs nothing but this import."""
    if sys.modules.get("keras") is not None:
        importlib.import_module("swiftformer_keras.models.layers")
    if sys.modules.get("keras_hub") is not None:
        for module in _KERAS_HUB_MODULES:
            importlib.import_module(module)


_register_where_keras_is_loaded()


def __dir__():
    return __all__
