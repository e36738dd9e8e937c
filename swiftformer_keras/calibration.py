"""Real images for int8 calibration and fidelity checks, preprocessed as at inference.

    images, skipped = find_images("photos/")                     # recursive .jpg/.jpeg/.png
    batch = load_images(images[:200], (224, 224), crop_pct=0.875)  # (200, 224, 224, 3) float32

The transform is the evaluation one: resize the shorter side to `size / crop_pct`
(bicubic), center-crop, normalise with the ImageNet mean and std
(`imagenet_utils.load_image` + `preprocess_input`). ImageNet models use
`crop_pct=224/256`; models trained by `swiftformer_keras.train` on small images
use the `crop_pct` they were trained with (1.0 by default).
"""

import os

import numpy as np

from swiftformer_keras.imagenet_utils import (  # IMAGENET_CROP_PCT, IMAGE_SUFFIXES re-exported
    IMAGE_SUFFIXES,
    IMAGENET_CROP_PCT,
    load_image,
    preprocess_input,
)


def find_images(folder):
    """Lists the images under `folder`, recursively, in a stable order.

    Returns:
        `(paths, skipped)`: the `.jpg`/`.jpeg`/`.png` files (any case) and
        the number of other files passed over.

    Raises:
        ValueError: `folder` is not a directory or holds no image.
    """
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        raise ValueError(f"Image folder {folder!r} does not exist or is not a directory.")
    paths, skipped = [], 0
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            if name.lower().endswith(IMAGE_SUFFIXES):
                paths.append(os.path.join(root, name))
            else:
                skipped += 1
    if not paths:
        raise ValueError(
            f"Image folder {folder!r} holds no {'/'.join(IMAGE_SUFFIXES)} files "
            f"({skipped} other files skipped); point it at real photos."
        )
    return paths, skipped


def load_images(paths, image_size, crop_pct=IMAGENET_CROP_PCT, progress=None):
    """Loads and preprocesses images; unreadable ones are skipped.

    Args:
        paths: image files.
        image_size: `(height, width)` of the model input.
        crop_pct: the evaluation crop fraction (see the module docstring).
        progress: a label for a progress bar, or None for none.

    Returns:
        `(images, kept, unreadable)`: float32 `(N, H, W, 3)`, the paths that
        were read, and the number that could not be.
    """
    from tqdm import tqdm

    if not 0.0 < crop_pct <= 1.0:
        raise ValueError(f"crop_pct must be in (0, 1], got {crop_pct!r}.")
    height, width = image_size
    images, kept, unreadable = [], [], 0
    for path in tqdm(paths, desc=progress, unit="image", disable=progress is None):
        try:
            images.append(load_image(path, (height, width), crop_pct=crop_pct))
            kept.append(path)
        except (OSError, ValueError):  # Pillow's UnidentifiedImageError is an OSError
            unreadable += 1
    if not images:
        return np.zeros((0, height, width, 3), np.float32), kept, unreadable
    return preprocess_input(np.stack(images)), kept, unreadable


def sample_images(folder, count, image_size, crop_pct=IMAGENET_CROP_PCT, seed=0, progress=None):
    """Up to `count` readable images drawn at random (fixed `seed`) from `folder`.

    Returns:
        `(images, info)`, `info` counting `found`, `used`, `non_image_files`
        and `unreadable`.

    Raises:
        ValueError: the folder is missing, empty, or none of its images reads.
    """
    if int(count) < 1:
        raise ValueError(f"The number of images must be at least 1, got {count!r}.")
    paths, non_images = find_images(folder)
    order = np.random.default_rng(seed).permutation(len(paths))
    chosen = [paths[i] for i in order[: int(count)]]
    images, kept, unreadable = load_images(chosen, image_size, crop_pct, progress)
    if not kept:
        raise ValueError(f"None of the {len(chosen)} images tried in {os.fspath(folder)!r} could be read.")
    info = {"found": len(paths), "used": len(kept), "non_image_files": non_images, "unreadable": unreadable}
    return images, info


def random_images(count, image_size, seed=0):
    """Gaussian noise in the range of preprocessed images; only for `--calib-random`.

    Calibrating on noise sets activation ranges that real photos do not
    have: the int8 model it gives is for latency measurements, not for use.
    """
    height, width = image_size
    return np.random.default_rng(seed).normal(size=(int(count), height, width, 3)).astype(np.float32)
