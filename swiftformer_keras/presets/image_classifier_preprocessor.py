"""`SwiftFormerImageClassifierPreprocessor`: KerasHub's classifier preprocessing with the SwiftFormer converter."""

import keras
from keras_hub.models import ImageClassifierPreprocessor

from swiftformer_keras.models.layers import PACKAGE
from swiftformer_keras.presets.backbone import SwiftFormerBackbone
from swiftformer_keras.presets.image_converter import SwiftFormerImageConverter


@keras.saving.register_keras_serializable(package=PACKAGE)
class SwiftFormerImageClassifierPreprocessor(ImageClassifierPreprocessor):
    """Images (and labels, passed through) to SwiftFormer inputs, with a `SwiftFormerImageConverter`.

    Its class attributes tell KerasHub's loaders which backbone and converter it goes
    with, so that `ImageClassifierPreprocessor.from_preset(folder)` finds it.

    Args:
        image_converter: a `SwiftFormerImageConverter`, or None (no preprocessing).
        **kwargs: as `keras_hub.models.ImageClassifierPreprocessor`.
    """

    backbone_cls = SwiftFormerBackbone
    image_converter_cls = SwiftFormerImageConverter
