"""`SwiftFormerImageConverter`: KerasHub's image converter with the evaluation crop of timm and SwiftFormer.

timm evaluates SwiftFormer by resizing the shorter side to `size / crop_pct` and
center-cropping `size` (`crop_pct=0.95` for its weights, 224/256 for the official
code's). For a square `size` that is the same window as cropping the central `crop_pct`
of the image's height and width, then taking the largest centred square and resizing
it: this converter's crop, then KerasHub's usual resize with `crop_to_aspect_ratio`.
"""

import math
import numbers

import keras
import numpy as np
from keras_hub.layers import ImageConverter

from swiftformer_keras.models.layers import PACKAGE
from swiftformer_keras.presets.backbone import SwiftFormerBackbone
from swiftformer_keras.utils.images import EVAL_CROP, IMAGENET_CROP_PCT, IMAGENET_MEAN, IMAGENET_STD


def check_crop_pct(crop_pct):
    """Returns `crop_pct` as a float, or raises `ValueError` unless it is a number in (0, 1]."""
    number = isinstance(crop_pct, numbers.Real) and not isinstance(crop_pct, bool)
    if not (number and 0.0 < crop_pct <= 1.0):
        raise ValueError(f"crop_pct must be a number in (0, 1], got {crop_pct!r}.")
    return float(crop_pct)


@keras.saving.register_keras_serializable(package=PACKAGE)
class SwiftFormerImageConverter(ImageConverter):
    """Raw images to SwiftFormer inputs: central crop, resize, rescale.

    Takes the central `crop_pct` of each image's height and width, then does what
    `keras_hub.layers.ImageConverter` does (resize to `image_size`, by default cropping
    to its aspect ratio first; multiply by `scale`; add `offset`). Batched and unbatched
    images, NumPy or backend tensors, and `tf.data` pipelines (where KerasHub runs
    preprocessing in TensorFlow) alike; image sides may be unknown until run time there.

    `imagenet_image_converter` builds the one SwiftFormer's weights expect.

    Args:
        *args: as `keras_hub.layers.ImageConverter` (`image_size`, `scale`, `offset`, ...).
        crop_pct: the fraction of each side kept, in (0, 1] (1: no crop).
        **kwargs: as `keras_hub.layers.ImageConverter`.
    """

    backbone_cls = SwiftFormerBackbone

    def __init__(self, *args, crop_pct=1.0, **kwargs):
        crop_pct = check_crop_pct(crop_pct)
        super().__init__(*args, **kwargs)
        self.crop_pct = crop_pct

    def _call_python(self, inputs):
        # KerasHub's `_call_tf` (in tf.data) comes here too: this is the one place to crop.
        if isinstance(inputs, (list, tuple)):
            try:  # images of one size are one batch, as for the base class
                inputs = np.asarray(inputs)
            except ValueError:  # images of different sizes: each on its own
                return type(inputs)(self._call_python(image) for image in inputs)
        return super()._call_python(self.central_crop(inputs))

    def central_crop(self, images):
        """The central `crop_pct` of the height and width of `images` (batched or not)."""
        if self.crop_pct == 1.0:
            return images
        if isinstance(images, dict):
            raise ValueError("SwiftFormerImageConverter does not crop bounding boxes: pass crop_pct=1.0 with them.")
        # Negative axes: the same for batched and unbatched images.
        axes = (-2, -1) if self.data_format == "channels_first" else (-3, -2)
        sides = [images.shape[axis] for axis in axes]
        if None in sides:
            # Only a TensorFlow graph (tf.data, tf.function) leaves a side unknown until it runs.
            import tensorflow as tf

            run_time = tf.shape(images)
            sides = [run_time[axis] if side is None else side for side, axis in zip(sides, axes, strict=True)]
        (top, height), (left, width) = (self._central_window(side) for side in sides)
        if self.data_format == "channels_first":
            return images[..., top : top + height, left : left + width]
        return images[..., top : top + height, left : left + width, :]

    def _central_window(self, side):
        """`(start, length)` of the central `crop_pct` of a side: from an int, ints; from a
        TensorFlow scalar (a side known at run time only), TensorFlow scalars."""
        if isinstance(side, numbers.Integral):
            length = max(1, math.floor(side * self.crop_pct + 0.5))
            return (side - length) // 2, length
        import tensorflow as tf  # as in central_crop: only a TensorFlow graph gets here

        length = tf.cast(tf.floor(tf.cast(side, tf.float32) * self.crop_pct + 0.5), side.dtype)
        length = tf.maximum(length, 1)
        return (side - length) // 2, length

    def get_config(self):
        return {**super().get_config(), "crop_pct": self.crop_pct}


def imagenet_image_converter(image_size=(EVAL_CROP, EVAL_CROP), crop_pct=IMAGENET_CROP_PCT, **kwargs):
    """The converter of SwiftFormer's ImageNet weights: `crop_pct`, bicubic resizing with
    antialiasing to `image_size`, and `(pixel / 255 - mean) / std` with ImageNet's mean and
    standard deviation (`utils.images.preprocess_input`). timm's weights want `crop_pct=0.95`,
    the official code's 224/256 (the default)."""
    options = {
        "image_size": tuple(image_size),
        "crop_pct": crop_pct,
        "scale": [1.0 / (255.0 * std) for std in IMAGENET_STD],
        "offset": [-mean / std for mean, std in zip(IMAGENET_MEAN, IMAGENET_STD, strict=True)],
        "interpolation": "bicubic",
        "antialias": True,
        "crop_to_aspect_ratio": True,
    }
    return SwiftFormerImageConverter(**{**options, **kwargs})
