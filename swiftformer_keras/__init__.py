"""SwiftFormer (ICCV 2023) in Keras 3, with the keras.applications API.

The model API needs Keras with a backend (TensorFlow, JAX or PyTorch). Where
`import keras` fails, as in an environment made for running .tflite files
(`pip install 'swiftformer-keras[tflite-runtime]'` pulls Keras but no backend),
the package and its Keras-free modules (`interpreter`, `cli`, `files`,
`imagenet_utils`) still import, and a model name such as `SwiftFormerS` raises
an ImportError that says what to install.
"""

import sys

from swiftformer_keras.imagenet_utils import decode_predictions, load_image, preprocess_input

try:
    import keras  # noqa: F401  (a backend is imported with it; without one this fails)
except ImportError as error:
    _KERAS_ERROR = " ".join(str(error).split()) or type(error).__name__
else:
    _KERAS_ERROR = None
    from swiftformer_keras.layers import (
        ConvEncoder,
        DistilledClassifier,
        DownsampleEmbedding,
        DropPath,
        EfficientAdditiveAttention,
        LayerScale,
        LocalRepresentation,
        Mlp,
        Stem,
        SwiftFormerBlock,
    )
    from swiftformer_keras.architecture import VARIANTS
    from swiftformer_keras.model import (
        SwiftFormer,
        SwiftFormerL1,
        SwiftFormerL3,
        SwiftFormerS,
        SwiftFormerXS,
    )
    from swiftformer_keras.weights import convert_to_keras_weights

__version__ = "0.1.0"

__all__ = [
    "VARIANTS",
    "ConvEncoder",
    "DistilledClassifier",
    "DownsampleEmbedding",
    "DropPath",
    "EfficientAdditiveAttention",
    "LayerScale",
    "LocalRepresentation",
    "Mlp",
    "Stem",
    "SwiftFormer",
    "SwiftFormerBlock",
    "SwiftFormerL1",
    "SwiftFormerL3",
    "SwiftFormerS",
    "SwiftFormerXS",
    "convert_to_keras_weights",
    "decode_predictions",
    "load_image",
    "preprocess_input",
]

# What needs Keras with a backend: everything in __all__ but the image utilities.
_KERAS_API = frozenset(__all__) - {"decode_predictions", "load_image", "preprocess_input"}


def __getattr__(name):
    """Only called for names not set above: the model API where Keras could not be imported."""
    if _KERAS_ERROR is not None and name in _KERAS_API:
        raise ImportError(
            f"swiftformer_keras.{name} needs Keras with a backend, and `import keras` fails in this Python "
            f"({sys.executable}: {_KERAS_ERROR}); install a Keras backend: "
            "pip install 'swiftformer-keras[tensorflow]' (or [jax], [torch])"
        )
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
