"""Real images for int8 calibration and fidelity checks, preprocessed as at inference.

    images, skipped = find_images("photos/")                     # recursive .jpg/.jpeg/.png
    batch = load_images(images[:200], (224, 224), crop_pct=0.875)  # (200, 224, 224, 3) float32

The transform is the evaluation one: resize the shorter side to `size / crop_pct`
(bicubic), center-crop, normalise with the ImageNet mean and std
(`utils.images.load_image` + `preprocess_input`). ImageNet models use
`crop_pct=224/256`; models trained by `swiftformer_keras.train` on small images
use the `crop_pct` they were trained with (1.0 by default).
"""

import os
import sys

import numpy as np
from tqdm import tqdm

from swiftformer_keras.utils import cli
from swiftformer_keras.utils.images import (  # IMAGENET_CROP_PCT, IMAGE_SUFFIXES re-exported
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
    paths, skipped, visited = [], 0, set()
    # Symlinked folders are followed (a folder of links to the photos is common), each real
    # folder once, so that a link to a parent cannot loop.
    for root, dirs, files in os.walk(folder, followlinks=True):
        real = os.path.realpath(root)
        if real in visited:
            dirs[:] = []
            continue
        visited.add(real)
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
        were read, and `{path: reason}` of those that could not be (each also
        named in a warning line on stderr).
    """
    if not 0.0 < crop_pct <= 1.0:
        raise ValueError(f"crop_pct must be in (0, 1], got {crop_pct!r}.")
    height, width = image_size
    images, kept, unreadable = [], [], {}
    for path in tqdm(paths, desc=progress, unit="image", disable=progress is None):
        try:
            images.append(load_image(path, (height, width), crop_pct=crop_pct))
            kept.append(path)
        except (OSError, ValueError) as error:  # Pillow's UnidentifiedImageError is an OSError
            unreadable[path] = cli.one_line(error).removeprefix(f"{path}: ")
            print(f"warning: skipped an unreadable image: {path}: {unreadable[path]}", file=sys.stderr)
    if not images:
        return np.zeros((0, height, width, 3), np.float32), kept, unreadable
    return preprocess_input(np.stack(images)), kept, unreadable


def sample_images(folder, count, image_size, crop_pct=IMAGENET_CROP_PCT, seed=0, progress=None):
    """Up to `count` readable images drawn at random (fixed `seed`) from `folder`.

    Returns:
        `(images, info)`, `info` counting `found`, `used` and `non_image_files`,
        naming the `unreadable` images (`{path: reason}`) and listing the `paths`
        of the images returned, in their order.

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
    info = {
        "found": len(paths),
        "used": len(kept),
        "non_image_files": non_images,
        "unreadable": unreadable,
        "paths": kept,
    }
    return images, info


def class_labels(paths, folder, class_names=None, num_classes=None):
    """The class index of each image in `paths` when `folder` holds one folder per class, else None.

    Folders are matched to the model's `class_names` by name. Where no folder
    is a class name (or the model has no names), the sorted folder names are
    numbered, as `swiftformer_keras.train` numbers them and as ImageNet's wnid
    folders sort, but only with one folder for each of the `num_classes`
    classes: a partial set of folders cannot be numbered and is not labelled
    (None), nor are images directly in `folder`.

    Raises:
        ValueError: some folders are class names and others are not: the
            names that are not, and the fix.
    """
    folder = os.fspath(folder)
    firsts = [os.path.relpath(path, folder).split(os.sep) for path in paths]
    if not firsts or any(len(parts) < 2 for parts in firsts):
        return None
    found = [parts[0] for parts in firsts]
    index = {name: i for i, name in enumerate(class_names or ())}
    unknown = sorted(set(found) - set(index))
    if len(unknown) < len(set(found)):
        if unknown:
            raise ValueError(
                f"The class folders {unknown[:5]} of {folder!r} are not class names of the model "
                f"({len(class_names)} classes: {', '.join(class_names[:4])}, ...); rename them to the class "
                "names, or move them out."
            )
        return np.asarray([index[name] for name in found])
    folders = sorted(entry.name for entry in os.scandir(folder) if entry.is_dir() and not entry.name.startswith("."))
    if num_classes is None or len(folders) != num_classes:
        return None
    return np.asarray([folders.index(name) for name in found])


def random_images(count, image_size, seed=0):
    """Gaussian noise in the range of preprocessed images; only for `--calib-random`.

    Calibrating on noise sets activation ranges that real photos do not
    have: the int8 model it gives is for latency measurements, not for use.
    """
    height, width = image_size
    return np.random.default_rng(seed).normal(size=(int(count), height, width, 3)).astype(np.float32)
