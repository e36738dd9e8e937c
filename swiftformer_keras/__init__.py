"""SwiftFormer (ICCV 2023) in Keras 3, with the keras.applications API."""

from swiftformer_keras.imagenet_utils import decode_predictions, load_image, preprocess_input
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
