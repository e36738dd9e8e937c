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
    """
    from PIL import Image

    height, width = (size, size) if np.isscalar(size) else size
    resize = resize or int(round(max(height, width) * EVAL_RESIZE / EVAL_CROP))
    with Image.open(path) as image:
        image = image.convert("RGB")
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
