"""ImageNet preprocessing and decoding for SwiftFormer.

The official evaluation transform (Amshaker/SwiftFormer, timm's
`create_transform` with `crop_pct=224/256`): resize the shorter side to 256
with bicubic interpolation, center-crop 224x224, scale to [0, 1], normalise
with the ImageNet mean and standard deviation. `load_image` does the geometric
part; `preprocess_input` the normalisation.
"""

import json
import os

import numpy as np

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
EVAL_RESIZE = 256
EVAL_CROP = 224
_CLASS_INDEX_PATH = os.path.join(os.path.dirname(__file__), "data", "imagenet_class_index.json")
_class_index = None
# Pillow's own decompression-bomb threshold (about 89 megapixels); larger
# images are refused before they are decoded, like unreadable ones.
MAX_IMAGE_PIXELS = 89_478_485
_HIGH_BIT_DEPTH_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")


class UnreadableImageError(ValueError):
    """An image file that cannot be decoded: corrupt, truncated, too large or not an image."""


def open_rgb(path):
    """Decodes an image file completely into an 8-bit RGB `PIL.Image`.

    The one place where the project reads pixels from a file: calibration,
    training, evaluation and `load_image` all come through here. 16-bit
    images (PNG `I;16`) are scaled to 8 bits (Pillow's own RGB conversion
    clips them, which reads them as white); the whole file is decoded now, so
    a truncated JPEG fails here and not halfway through a run.

    Raises:
        UnreadableImageError: the file is missing, not an image, truncated
            or corrupt, or larger than `MAX_IMAGE_PIXELS`; the message names it.
    """
    from PIL import Image

    try:
        with Image.open(path) as image:
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise UnreadableImageError(
                    f"{path}: {image.width}x{image.height} pixels is more than the "
                    f"{MAX_IMAGE_PIXELS} this tool decodes (a decompression bomb?)"
                )
            image.load()
            if image.mode in _HIGH_BIT_DEPTH_MODES:
                return _to_8_bit_rgb(image)
            return image.convert("RGB")
    except UnreadableImageError:
        raise
    except Exception as error:  # Pillow raises OSError, SyntaxError, ValueError, DecompressionBombError...
        raise UnreadableImageError(f"{path}: {error}") from error


def _to_8_bit_rgb(image):
    """A single-channel image of 16-bit integers or floats as 8-bit RGB."""
    from PIL import Image

    values = np.asarray(image, dtype=np.float64)
    if image.mode == "F":
        top = 1.0 if values.max(initial=0.0) <= 1.0 else 255.0  # [0, 1] floats or 8-bit values
    elif image.mode == "I" and values.max(initial=0) <= 255:
        top = 255.0  # 32-bit integers holding 8-bit values
    else:
        top = 65535.0
    gray = np.clip(np.round(values * (255.0 / top)), 0, 255).astype(np.uint8)
    return Image.fromarray(gray).convert("RGB")


def preprocess_input(x, data_format=None):
    """Normalises RGB images for SwiftFormer.

    Args:
        x: images as a NumPy array or tensor, channels last (`(..., H, W, 3)`),
            RGB, with values in [0, 255] (uint8 or float).
        data_format: only `None` or `"channels_last"` are supported.

    Returns:
        float32 array: `(x / 255 - mean) / std` per channel.
    """
    if data_format not in (None, "channels_last"):
        raise ValueError(
            f"SwiftFormer is channels-last only; got data_format={data_format!r}. "
            "Transpose NCHW images to NHWC first."
        )
    x = np.asarray(x)
    if x.shape[-1] != 3:
        raise ValueError(
            f"preprocess_input expects RGB images with 3 channels last, got shape {x.shape}."
        )
    x = x.astype("float32") / 255.0
    return (x - np.asarray(IMAGENET_MEAN, "float32")) / np.asarray(IMAGENET_STD, "float32")


def load_image(path, size=EVAL_CROP, resize=None):
    """Loads an image file with the official evaluation transform.

    Resizes the shorter side to `resize` (default `size * 256 / 224`) with
    bicubic interpolation and center-crops `size` x `size` (or `(h, w)`).

    Returns:
        uint8 array `(h, w, 3)`, RGB; feed it to `preprocess_input`.

    Raises:
        UnreadableImageError: see `open_rgb`.
    """
    from PIL import Image

    height, width = (size, size) if np.isscalar(size) else size
    resize = resize or int(round(max(height, width) * EVAL_RESIZE / EVAL_CROP))
    with open_rgb(path) as image:
        scale = resize / min(image.size)
        new_size = (max(width, round(image.width * scale)), max(height, round(image.height * scale)))
        image = image.resize(new_size, Image.BICUBIC)
        left = (image.width - width) // 2
        top = (image.height - height) // 2
        image = image.crop((left, top, left + width, top + height))
        return np.asarray(image, dtype=np.uint8)


def imagenet_class_index():
    """`{index: (wnid, name)}` for the 1000 ImageNet-1k classes (shipped)."""
    global _class_index
    if _class_index is None:
        with open(_CLASS_INDEX_PATH, encoding="utf-8") as file:
            _class_index = {int(k): tuple(v) for k, v in json.load(file).items()}
    return _class_index


def decode_predictions(preds, top=5):
    """Decodes ImageNet predictions like `keras.applications`.

    Args:
        preds: array `(batch, 1000)` of probabilities or logits.
        top: how many classes to return per image.

    Returns:
        A list, one per image, of `(wnid, class_name, score)` tuples, best first.
    """
    preds = np.asarray(preds)
    if preds.ndim != 2 or preds.shape[1] != 1000:
        raise ValueError(
            f"decode_predictions expects a batch of ImageNet predictions of shape "
            f"(samples, 1000), got {preds.shape}."
        )
    index = imagenet_class_index()
    results = []
    for row in preds:
        best = np.argsort(row)[::-1][:top]
        results.append([(*index[int(i)], float(row[i])) for i in best])
    return results
