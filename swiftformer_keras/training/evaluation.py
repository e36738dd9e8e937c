"""Scoring a classifier on an image folder: top-1, top-k and the confusion matrix, whatever runs it.

A model reaches this loop as a `Predictor`, a function from a batch of preprocessed images to
scores with the facts evaluation needs; `keras_predictor` makes one of a Keras model, and
`lite.predictor.tflite_runner` of a `.tflite` file (`swiftformer_keras.evaluate` chooses). The
module needs no Keras, so a `.tflite` file is scored where Keras has no backend.
"""

import collections
import os

import numpy as np
from tqdm.auto import tqdm

from swiftformer_keras.models.architecture import check_image_size
from swiftformer_keras.training.image_folder import TRAIN_SPLIT, ImageFolderBatches, load_image_folder
from swiftformer_keras.utils.images import IMAGENET_CROP_PCT

TOP_K = 5

# What evaluation needs of a model, whatever its file format: `predict(images) -> scores`, its input
# `(height, width)` (None for any size), its number of classes, and what to call it in messages.
Predictor = collections.namedtuple("Predictor", "predict image_size num_classes source")


def class_names(data_dir, split):
    """The class names in training order: from the train split when there is one,
    so that label indices match those the model was trained with."""
    train_split = TRAIN_SPLIT if os.path.isdir(os.path.join(data_dir, TRAIN_SPLIT)) else split
    return load_image_folder(data_dir, train_split, verify=False).classes


def _static_size(shape):
    """`(height, width)` of an NHWC input shape, or None when either is dynamic."""
    height, width = shape[1:3]
    return None if height is None or width is None else (int(height), int(width))


def keras_predictor(model, source):
    """The `Predictor` of a Keras model with one image input and one output, called `source`."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ValueError(
            f"{source} has {len(model.inputs)} inputs and {len(model.outputs)} outputs; evaluation "
            "needs one image input and one output (build it with distillation_outputs=False)."
        )
    # predict_on_batch returns NumPy arrays on every backend.
    return Predictor(
        model.predict_on_batch, _static_size(model.inputs[0].shape), int(model.outputs[0].shape[-1]), source
    )


def _resolve_size(image_size, predictor):
    """The `(height, width)` to evaluate at: `image_size` if given (it must match a fixed input),
    else the predictor's own."""
    if image_size is None:
        if predictor.image_size is None:
            raise ValueError(f"{predictor.source} takes images of any size: pass image_size (--image-size N).")
        return predictor.image_size
    size = check_image_size(image_size)
    if predictor.image_size is not None and size != tuple(predictor.image_size):
        raise ValueError(
            f"image_size {image_size!r} disagrees with the input of {predictor.source}, "
            f"{predictor.image_size[0]}x{predictor.image_size[1]}; drop image_size (--image-size)."
        )
    return size


def accumulate(batches, predict, num_classes, k):
    """Runs `predict` over every `(images, one-hot labels)` batch: `(confusion matrix, top-k hits)`."""
    confusion = np.zeros((num_classes, num_classes), np.int64)
    top_k_hits = 0
    for index in tqdm(range(len(batches)), desc="evaluate", unit="batch"):
        images, targets = batches[index]
        if not len(images):  # every image of the batch failed to decode (counted by the batches)
            continue
        labels = targets.argmax(-1)
        scores = np.asarray(predict(images), np.float32)
        if scores.shape != (len(labels), num_classes):
            raise ValueError(
                f"The model returned scores of shape {scores.shape} for {len(labels)} images of {num_classes} classes."
            )
        # A stable sort keeps argmax's choice among ties, so a top-1 hit is always a top-k hit.
        ranked = np.argsort(-scores, axis=-1, kind="stable")[:, :k]
        np.add.at(confusion, (labels, ranked[:, 0]), 1)
        top_k_hits += int((ranked == labels[:, None]).any(-1).sum())
    return confusion, top_k_hits


def score(predictor, data_dir, split, classes, image_size=None, batch_size=64, crop_pct=IMAGENET_CROP_PCT):
    """Scores `predictor` on `data_dir/split`, whose class folders must be `classes` (in label order).

    `image_size` None: the predictor's input size. Returns the dict `swiftformer_keras.evaluate.evaluate`
    documents.
    """
    if predictor.num_classes != len(classes):
        raise ValueError(
            f"{predictor.source} predicts {predictor.num_classes} classes but {data_dir!r} has "
            f"{len(classes)} ({', '.join(classes[:5])}{', ...' if len(classes) > 5 else ''})."
        )
    size = _resolve_size(image_size, predictor)
    folder = load_image_folder(data_dir, split, classes=classes)
    batches = ImageFolderBatches(folder, size, batch_size, crop_pct=crop_pct)
    k = min(TOP_K, len(classes))
    confusion, top_k_hits = accumulate(batches, predictor.predict, len(classes), k)
    count = int(confusion.sum())
    return {
        "top1": float(np.trace(confusion) / count),
        "top5": float(top_k_hits / count),
        "top_k": k,
        "count": count,
        "classes": list(classes),
        "confusion": confusion,
        # Unreadable at listing (bad header) plus unreadable when decoded (e.g. truncated).
        "skipped": int(folder.skipped) + len(batches.unreadable),
        "source": predictor.source,
        "split": split,
        "image_size": tuple(int(v) for v in size),
        "crop_pct": crop_pct,
    }
