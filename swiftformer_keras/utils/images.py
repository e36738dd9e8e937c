"""ImageNet preprocessing and decoding for SwiftFormer.

The official evaluation transform (Amshaker/SwiftFormer, timm's
`create_transform` with `crop_pct=224/256`): resize the shorter side to 256
with bicubic interpolation, center-crop 224x224, scale to [0, 1], normalise
with the ImageNet mean and standard deviation. `load_image` does the geometric
part; `preprocess_input` the normalisation.

Pillow and h5py load inside the functions that read pictures and model files:
every command line imports this module to check its flags, and answers
`--help` or a bad value before either library starts.
"""

import json
import os
import zipfile

import numpy as np

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
EVAL_RESIZE = 256
EVAL_CROP = 224
# The evaluation crop of every tool, unless the model file records the crop it
# was trained for (`recorded_crop_pct`) or the user passes one.
IMAGENET_CROP_PCT = EVAL_CROP / EVAL_RESIZE
# The image files every tool reads (training folders, calibration, evaluation).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
CROP_PCT_ATTRIBUTE = "swiftformer_crop_pct"
CLASS_NAMES_ATTRIBUTE = "swiftformer_class_names"
_KERAS_RECORD = "swiftformer.json"
_CLASS_INDEX_PATH = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "imagenet_class_index.json")
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
            f"SwiftFormer is channels-last only; got data_format={data_format!r}. Transpose NCHW images to NHWC first."
        )
    x = np.asarray(x)
    if x.ndim < 3 or x.shape[-1] != 3 or not (np.issubdtype(x.dtype, np.number) and x.dtype != np.bool_):
        raise ValueError(
            "preprocess_input expects RGB images as numbers with 3 channels last ((..., height, width, 3)), "
            f"got {x.dtype} of shape {x.shape}."
        )
    x = x.astype("float32") / 255.0
    return (x - np.asarray(IMAGENET_MEAN, "float32")) / np.asarray(IMAGENET_STD, "float32")


def pixels_from_input(x, rounded=True):
    """The inverse of `preprocess_input`: normalised images back to RGB pixel values, float32,
    for files that take pixels. `rounded` clips to [0, 255] and rounds (images that came
    from 8-bit pixels come back exactly); False inverts any input exactly, noise included."""
    x = np.asarray(x, "float32")
    pixels = (x * np.asarray(IMAGENET_STD, "float32") + np.asarray(IMAGENET_MEAN, "float32")) * 255.0
    return np.clip(np.round(pixels), 0, 255).astype("float32") if rounded else pixels


def resize_and_center_crop(image, size, crop_pct=IMAGENET_CROP_PCT):
    """The evaluation transform's geometry: the one place it is written.

    Resizes the shorter side of a PIL image to `round(max(h, w) / crop_pct)`
    with bicubic interpolation and center-crops `(h, w)`; `load_image`,
    calibration and the training pipeline's evaluation all use it, so a
    model scores the same everywhere.

    Returns:
        uint8 array `(h, w, 3)`.
    """
    from PIL import Image

    height, width = (size, size) if np.isscalar(size) else size
    if not 0.0 < crop_pct <= 1.0:
        raise ValueError(f"crop_pct must be a number in (0, 1], got {crop_pct!r}.")
    resize = int(round(max(height, width) / crop_pct))
    scale = resize / min(image.size)
    new_size = (max(width, round(image.width * scale)), max(height, round(image.height * scale)))
    image = image.resize(new_size, Image.BICUBIC)
    left = (image.width - width) // 2
    top = (image.height - height) // 2
    return np.asarray(image.crop((left, top, left + width, top + height)), dtype=np.uint8)


def load_image(path, size=EVAL_CROP, resize=None, crop_pct=IMAGENET_CROP_PCT):
    """Loads an image file with the official evaluation transform.

    Resizes the shorter side to `size / crop_pct` (256 for 224 at the
    default 0.875; `resize` gives that length directly) with bicubic
    interpolation and center-crops `size` x `size` (or `(h, w)`).

    Returns:
        uint8 array `(h, w, 3)`, RGB; feed it to `preprocess_input`.

    Raises:
        UnreadableImageError: see `open_rgb`.
    """
    height, width = (size, size) if np.isscalar(size) else size
    if resize is not None:
        crop_pct = max(height, width) / resize
    with open_rgb(path) as image:
        return resize_and_center_crop(image, (height, width), crop_pct)


def _read_record(path):
    """The facts a model file records (`record_model_facts`) as a dict; {} for none or unreadable."""
    path = os.fspath(path)
    try:
        if path.endswith(".keras"):
            with zipfile.ZipFile(path) as archive:
                if _KERAS_RECORD not in archive.namelist():
                    return {}
                record = json.loads(archive.read(_KERAS_RECORD))
                return record if isinstance(record, dict) else {}
        if path.endswith(".h5"):
            import h5py

            with h5py.File(path, "r") as file:
                crop_pct = file.attrs.get(CROP_PCT_ATTRIBUTE)
                names = file.attrs.get(CLASS_NAMES_ATTRIBUTE)
            record = {} if crop_pct is None else {"crop_pct": float(crop_pct)}
            if names is not None:
                record["class_names"] = json.loads(names.decode() if isinstance(names, bytes) else names)
            return record
    except (OSError, ValueError, zipfile.BadZipFile):
        return {}
    return {}


def recorded_crop_pct(path):
    """The evaluation crop a model file records (written by `record_model_facts`), or None.

    `.keras` files carry it in a `swiftformer.json` entry of their archive,
    `.weights.h5` files as an HDF5 attribute (as the attention form is); other
    files and unreadable ones record nothing.
    """
    value = _read_record(path).get("crop_pct")
    try:
        return float(value) if value is not None and 0.0 < float(value) <= 1.0 else None
    except (TypeError, ValueError):
        return None


def recorded_class_names(path):
    """The class names a model file trained by the project records (its training folders'
    names, in class order), or None."""
    names = _read_record(path).get("class_names")
    if isinstance(names, list) and names and all(isinstance(name, str) and name for name in names):
        return names
    return None


def record_model_facts(path, crop_pct=None, class_names=None):
    """Records the evaluation crop a model was trained for and its class names in its
    `.keras` or `.weights.h5` file; the tools read them back (`recorded_crop_pct`,
    `recorded_class_names`). Call it once, on the temporary file of an atomic write,
    before the rename.
    """
    path = os.fspath(path)
    record = {}
    if crop_pct is not None:
        record["crop_pct"] = float(crop_pct)
    if class_names is not None:
        record["class_names"] = [str(name) for name in class_names]
    if path.endswith(".keras"):
        with zipfile.ZipFile(path, "a") as archive:
            archive.writestr(_KERAS_RECORD, json.dumps(record))
    elif path.endswith(".h5"):
        import h5py

        with h5py.File(path, "a") as file:
            if "crop_pct" in record:
                file.attrs[CROP_PCT_ATTRIBUTE] = record["crop_pct"]
            if "class_names" in record:
                file.attrs[CLASS_NAMES_ATTRIBUTE] = json.dumps(record["class_names"])
    else:
        raise ValueError(f"Only .keras and .weights.h5 files record a crop and class names, not {path!r}.")


def record_crop_pct(path, crop_pct):
    """Records the evaluation crop a model was trained for (`record_model_facts`)."""
    record_model_facts(path, crop_pct=crop_pct)


def resolve_crop_pct(crop_pct=None, model_path=None):
    """The crop to evaluate with: the one given, else the model file's record, else ImageNet's."""
    if crop_pct is not None:
        return float(crop_pct)
    if model_path is not None:
        recorded = recorded_crop_pct(model_path)
        if recorded is not None:
            return recorded
    return IMAGENET_CROP_PCT


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
            f"decode_predictions expects a batch of ImageNet predictions of shape (samples, 1000), got {preds.shape}."
        )
    index = imagenet_class_index()
    results = []
    for row in preds:
        best = np.argsort(row)[::-1][:top]
        results.append([(*index[int(i)], float(row[i])) for i in best])
    return results
