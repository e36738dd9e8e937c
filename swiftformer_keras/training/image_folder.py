"""Image folders and their batches of preprocessed images, without Keras.

A data folder holds `train/<class>/*` and `val/<class>/*` or `test/<class>/*`.
Images are decoded with Pillow and augmented with NumPy, so the same batches
feed training on every Keras backend (`dataset.ImageFolderDataset`) and the
evaluation of any model file, `.tflite` ones included (`evaluation`), and the
command lines can check a data folder before Keras starts.
"""

import dataclasses
import math
import os
import sys
import threading

import numpy as np
from PIL import Image

from swiftformer_keras.models.architecture import check_image_size
from swiftformer_keras.utils.images import (
    IMAGE_SUFFIXES,
    IMAGENET_CROP_PCT,
    UnreadableImageError,
    open_rgb,
    preprocess_input,
    resize_and_center_crop,
)

TRAIN_SPLIT = "train"
EVAL_SPLITS = ("val", "test")
AUGMENTATIONS = ("auto", "pad-crop", "resized-crop", "none")


@dataclasses.dataclass
class ImageFolder:
    """The readable images of one split: paths, integer labels, class names."""

    root: str
    split: str
    classes: list
    files: list
    labels: np.ndarray
    skipped: int = 0

    def __len__(self):
        return len(self.files)


def eval_split_name(data_dir):
    """The evaluation split of a data folder: `val` if present, else `test`."""
    for split in EVAL_SPLITS:
        if os.path.isdir(os.path.join(data_dir, split)):
            return split
    raise ValueError(f"{data_dir!r} has no val/ or test/ folder; expected {data_dir}/val/<class>/<images>.")


def _split_folder(data_dir, split):
    """`data_dir/split`, refused (saying what is expected) when it or `data_dir` is missing."""
    if not os.path.isdir(data_dir):
        raise ValueError(f"Data folder {data_dir!r} does not exist.")
    split_dir = os.path.join(data_dir, split)
    if not os.path.isdir(split_dir):
        raise ValueError(f"{data_dir!r} has no {split}/ folder; expected {split_dir}/<class>/<images>.")
    return split_dir


def check_data_folder(data_dir):
    """Refuses, without listing its images, a data folder that is missing or lacks
    `train/` or an evaluation split; returns the evaluation split's name."""
    _split_folder(os.fspath(data_dir), TRAIN_SPLIT)
    return eval_split_name(data_dir)


def _class_folders(split_dir):
    return sorted(e.name for e in os.scandir(split_dir) if e.is_dir() and not e.name.startswith("."))


def _is_readable(path):
    """A cheap header check for listing; a file can pass it and still fail to
    decode (a truncated JPEG), which `ImageFolderBatches` handles when it reads."""
    try:
        with Image.open(path) as image:
            image.verify()
        return True
    except Exception:  # Pillow raises many types for corrupt or non-image files
        return False


def load_image_folder(data_dir, split, classes=None, verify=True):
    """Lists the images of `data_dir/split`.

    Args:
        classes: the class names the split must have (those of the training
            split); a split whose class folders differ is refused.
        verify: open every file's header and skip unreadable ones, counting
            them in `ImageFolder.skipped`.
    """
    split_dir = _split_folder(os.fspath(data_dir), split)
    found = _class_folders(split_dir)
    if not found:
        raise ValueError(f"{split_dir!r} has no class folders; expected {split_dir}/<class>/<images>.")
    if classes is not None and list(classes) != found:
        missing = sorted(set(classes) - set(found))
        extra = sorted(set(found) - set(classes))
        raise ValueError(
            f"The class folders of {split_dir!r} differ from the training split's: "
            f"missing {missing}, unexpected {extra}."
        )
    files, labels, skipped = [], [], 0
    for label, name in enumerate(found):
        class_dir = os.path.join(split_dir, name)
        for entry in sorted(os.scandir(class_dir), key=lambda e: e.name):
            if not entry.is_file() or entry.name.startswith("."):
                continue
            if not entry.name.lower().endswith(IMAGE_SUFFIXES) or (verify and not _is_readable(entry.path)):
                skipped += 1
                continue
            files.append(entry.path)
            labels.append(label)
    if not files:
        raise ValueError(f"{split_dir!r} holds no readable images ({skipped} files skipped).")
    return ImageFolder(data_dir, split, found, files, np.asarray(labels, np.int64), skipped)


def _random_resized_crop(image, size, rng, scale=(0.25, 1.0), ratio=(3 / 4, 4 / 3)):
    area = image.width * image.height
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1])))
        width = round(math.sqrt(target * aspect))
        height = round(math.sqrt(target / aspect))
        if 0 < width <= image.width and 0 < height <= image.height:
            left = rng.integers(0, image.width - width + 1)
            top = rng.integers(0, image.height - height + 1)
            box = (left, top, left + width, top + height)
            return np.asarray(image.resize((size[1], size[0]), Image.BICUBIC, box=box))
    return resize_and_center_crop(image, size, 1.0)


def _pad_crop(image, size, rng):
    """Resize to the target, reflect-pad by 1/8 and crop back: CIFAR-style."""
    array = np.asarray(image.resize((size[1], size[0]), Image.BICUBIC))
    pad_h, pad_w = size[0] // 8, size[1] // 8
    padded = np.pad(array, ((pad_h, pad_h), (pad_w, pad_w), (0, 0)), mode="reflect")
    top, left = rng.integers(0, 2 * pad_h + 1), rng.integers(0, 2 * pad_w + 1)
    return padded[top : top + size[0], left : left + size[1]]


def _mix(images, targets, rng, mixup_alpha, cutmix_alpha):
    """Mixup or CutMix (one of them per batch, chosen at random) with soft targets."""
    choices = [m for m, alpha in (("mixup", mixup_alpha), ("cutmix", cutmix_alpha)) if alpha > 0]
    if not choices:
        return images, targets
    mode = choices[rng.integers(len(choices))]
    lam = rng.beta(*(2 * [mixup_alpha if mode == "mixup" else cutmix_alpha]))
    order = rng.permutation(len(images))
    if mode == "mixup":
        images = lam * images + (1 - lam) * images[order]
    else:
        height, width = images.shape[1:3]
        cut_h, cut_w = int(height * math.sqrt(1 - lam)), int(width * math.sqrt(1 - lam))
        cy, cx = rng.integers(height), rng.integers(width)
        top, bottom = max(cy - cut_h // 2, 0), min(cy + cut_h // 2, height)
        left, right = max(cx - cut_w // 2, 0), min(cx + cut_w // 2, width)
        images = images.copy()
        images[:, top:bottom, left:right] = images[order, top:bottom, left:right]
        lam = 1 - (bottom - top) * (right - left) / (height * width)
    return images, lam * targets + (1 - lam) * targets[order]


class ImageFolderBatches:
    """Batches of `(preprocessed images, one-hot targets)` from an `ImageFolder`.

    Training batches are shuffled once per epoch and augmented; the order and
    the augmentation of every batch depend only on `(seed, epoch, batch)`, so
    a resumed run sees the same data as an uninterrupted one.

    An image that fails to decode (truncated, corrupt) never aborts a run: it
    is logged by name once, kept in `unreadable` (`{path: reason}`), and left
    out: a training batch takes the next readable image of the epoch's order
    in its place (so every batch keeps its size), an evaluation batch is one
    image shorter (so nothing is counted twice).

    Args:
        folder: an `ImageFolder`.
        image_size: int or `(height, width)`, multiples of 32 from 64 up.
        batch_size: images per batch; training drops the last partial batch.
        training: shuffle and augment.
        augment: `"pad-crop"` (resize, reflect-pad by 1/8, random crop; for
            small images such as CIFAR), `"resized-crop"` (random resized crop,
            for photos), `"none"`, or `"auto"` (pad-crop when the images are
            smaller than `image_size`). Horizontal flips come with both crops.
        mixup_alpha, cutmix_alpha: Beta parameters; 0 disables each.
        crop_pct: evaluation resizes the shorter side to `size / crop_pct`
            and center-crops `size` (`imagenet_utils.resize_and_center_crop`;
            0.875, the default, is the ImageNet convention, 1.0 keeps the
            whole image).
        seed: the data order and augmentation seed.
    """

    def __init__(
        self,
        folder,
        image_size,
        batch_size,
        training=False,
        augment="auto",
        mixup_alpha=0.0,
        cutmix_alpha=0.0,
        crop_pct=IMAGENET_CROP_PCT,
        seed=0,
    ):
        if augment not in AUGMENTATIONS:
            raise ValueError(f"augment must be one of {AUGMENTATIONS}, got {augment!r}.")
        if batch_size < 1 or (training and batch_size > len(folder)):
            raise ValueError(f"batch_size {batch_size} does not fit {len(folder)} {folder.split} images.")
        self.folder = folder
        self.size = check_image_size(image_size)
        self.batch_size = int(batch_size)
        self.training = training
        self.mixup_alpha, self.cutmix_alpha = float(mixup_alpha), float(cutmix_alpha)
        self.crop_pct = float(crop_pct)
        self.seed = int(seed)
        self.epoch = 0
        self.num_classes = len(folder.classes)
        self.unreadable = {}
        self._unreadable_lock = threading.Lock()
        if augment == "auto":
            augment = self._auto_augment()
        self.augment = augment if training else "none"

    def _auto_augment(self):
        """pad-crop when the first readable image is smaller than the input size."""
        for path in self.folder.files:
            try:
                with Image.open(path) as image:
                    return "pad-crop" if min(image.size) < min(self.size) else "resized-crop"
            except Exception:  # unreadable: the next one decides
                continue
        return "resized-crop"

    def __len__(self):
        count = len(self.folder) / self.batch_size
        return math.floor(count) if self.training else math.ceil(count)

    def _order(self):
        if not self.training:
            return np.arange(len(self.folder))
        return np.random.default_rng((self.seed, self.epoch)).permutation(len(self.folder))

    def _image(self, path, rng):
        image = open_rgb(path)
        if self.augment == "none":
            array = resize_and_center_crop(image, self.size, self.crop_pct)
        elif self.augment == "pad-crop":
            array = _pad_crop(image, self.size, rng)
        else:
            array = _random_resized_crop(image, self.size, rng)
        if self.augment != "none" and rng.random() < 0.5:
            array = array[:, ::-1]
        return array

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"Batch {index} out of range for {len(self)} batches.")
        order = self._order()
        start = index * self.batch_size
        rng = np.random.default_rng((self.seed, self.epoch, index))
        arrays, indices = [], []
        for i in order[start : start + self.batch_size]:
            array = self._read(i, rng)
            if array is None and self.training:
                i, array = self._stand_in(order, start + self.batch_size, rng)
            if array is not None:
                arrays.append(array)
                indices.append(i)
        if not arrays:  # a whole evaluation batch unreadable
            return np.zeros((0, *self.size, 3), "float32"), np.zeros((0, self.num_classes), "float32")
        indices = np.asarray(indices)
        images = preprocess_input(np.stack(arrays))
        targets = np.eye(self.num_classes, dtype="float32")[self.folder.labels[indices]]
        if self.training:
            images, targets = _mix(images, targets, rng, self.mixup_alpha, self.cutmix_alpha)
        return images.astype("float32"), targets

    def _read(self, index, rng):
        """The augmented array of image `index`, or None (logged once) if it does not decode."""
        path = self.folder.files[index]
        if path in self.unreadable:
            return None
        try:
            return self._image(path, rng)
        except UnreadableImageError as error:
            with self._unreadable_lock:
                self.unreadable[path] = str(error)
                count = len(self.unreadable)
            print(f"warning: skipped an unreadable image ({count} so far): {error}", file=sys.stderr)
            return None

    def _stand_in(self, order, position, rng):
        """The next readable image of the epoch's order after `position`, wrapping around."""
        for step in range(len(order)):
            i = order[(position + step) % len(order)]
            array = self._read(i, rng)
            if array is not None:
                return i, array
        raise ValueError(f"None of the {len(order)} images of {self.folder.root!r} can be decoded.")

    def on_epoch_end(self):
        self.epoch += 1
