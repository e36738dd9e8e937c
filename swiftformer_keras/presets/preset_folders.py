"""KerasHub preset folders of SwiftFormer, one per variant and weights, ready to upload.

    rows = write_presets("presets/", variants=("XS", "S"), weights=("imagenet", "imagenet_mbzuai"))

A preset folder is what KerasHub's `save_to_preset` writes (`config.json` and
`model.weights.h5` of the backbone, `task.json` and `task.weights.h5` of the
classifier, `preprocessor.json`, `image_converter.json`, `metadata.json`) and a
`README.md` model card for Kaggle and the Hugging Face hub. The weights are a
published name (`weights.published`: downloaded or taken from the cache) or a
`.weights.h5` file, and the image converter takes their evaluation crop.

Every folder of a run is built in a partial folder beside its destination and
loaded back with KerasHub's own `ImageClassifier.from_preset`, whose outputs
must equal the flat Keras model's; only when every folder passed are they
renamed into place together, each replacing an earlier folder of the same
name, so a failed run leaves the older presets as they were.
"""

import contextlib
import os

import keras
import keras_hub
import numpy as np

from swiftformer_keras.applications import SwiftFormer
from swiftformer_keras.presets.flat_models import classifier_from_model
from swiftformer_keras.presets.plan import MARKER, plan_presets
from swiftformer_keras.utils import files
from swiftformer_keras.utils.images import IMAGENET_CROP_PCT
from swiftformer_keras.utils.tables import markdown_table
from swiftformer_keras.weights.keras_files import saved_classes
from swiftformer_keras.weights.published import weight_source, weights_crop_pct

CARD = "README.md"
# Loaded back, a preset's outputs equal the flat model's to float32 round-off (the same graph, weights
# copied exactly); 1e-4 on logits is far below any change a wrong weight would make.
TOLERANCE = 1e-4
COLUMNS = ("preset", "variant", "weights", "attention", "crop_pct", "published_top1", "parameters", "size_mb")


def write_presets(output_dir, variants=("XS",), weights=("imagenet",), progress=True, index=None):
    """Writes one preset folder per variant and weights into `output_dir` (created if need be), and
    with `index` (a file name) the table of presets there as CSV: the index is written before any
    folder moves into place and renamed after them, so that a run that fails leaves the earlier
    folders and index together.

    Returns:
        One row per preset (`COLUMNS`, and `max_abs_diff`: KerasHub's reloaded outputs against
        the flat model's), in the order written.

    Raises:
        ValueError: a bad variant or weights, or a destination that is not an earlier preset.
        OSError: published weights that are neither cached nor downloadable (the message says
            what to do offline).
    """
    planned = plan_presets(output_dir, variants, weights)
    os.makedirs(output_dir, exist_ok=True)
    rows, built = [], []
    with contextlib.ExitStack() as stack:
        for number, (variant, name, destination) in enumerate(planned, start=1):
            if progress:
                print(f"[{number}/{len(planned)}] {os.path.basename(destination)}", flush=True)
            folder = stack.enter_context(files.partial_folder(destination))
            rows.append(_build_preset(folder, os.path.basename(destination), variant, name))
            built.append((folder, destination))
        table = None
        if index is not None:
            table = files.partial_path(os.path.join(output_dir, index))
            stack.callback(lambda: os.path.exists(table) and os.remove(table))
            files.write_csv_atomically(table, rows, columns=(*COLUMNS, "max_abs_diff"))
        for folder, destination in built:
            files.replace_folder(folder, destination, MARKER, "the preset folder")
        if table is not None:
            os.replace(table, os.path.join(output_dir, index))
    return rows


def _build_preset(folder, preset, variant, weights):
    """Saves the preset named `preset` of `variant` with `weights` into `folder`, checks it, returns its row."""
    source = weight_source(weights)
    classes = 1000 if source is not None else saved_classes(weights) or 1000
    model = SwiftFormer(variant, weights=weights, classes=classes, classifier_activation=None)
    crop_pct = weights_crop_pct(weights) or IMAGENET_CROP_PCT
    options = {"interpolation": source.interpolation} if source is not None else {}
    classifier = classifier_from_model(model, crop_pct=crop_pct, **options)
    classifier.save_to_preset(folder)
    max_diff = _check_reloaded(folder, model)
    row = {
        "preset": preset,
        "variant": variant,
        "weights": source.name if source is not None else os.path.basename(weights),
        "attention": classifier.backbone.attention,
        "crop_pct": crop_pct,
        "published_top1": source.top1[variant] if source is not None else None,
        # Trainable, as the paper and the variant table count them (BatchNorm statistics left out).
        "parameters": int(sum(np.prod(variable.shape) for variable in classifier.trainable_weights)),
        "max_abs_diff": max_diff,
    }
    with open(os.path.join(folder, CARD), "w", encoding="utf-8") as card:
        card.write(preset_card(preset, row, source))
    row["size_mb"] = round(sum(_sizes(folder)) / 1e6, 2)
    return row


def _check_reloaded(folder, model, seed=0):
    """Loads `folder` with KerasHub's generic loader and compares its logits on random normalised
    images with the flat model's; raises ValueError beyond `TOLERANCE`."""
    reloaded = keras_hub.models.ImageClassifier.from_preset(folder)
    images = np.random.default_rng(seed).standard_normal((2, 224, 224, 3)).astype("float32")
    expected = keras.ops.convert_to_numpy(model(images, training=False))
    found = keras.ops.convert_to_numpy(reloaded(images, training=False))
    max_diff = float(np.max(np.abs(found - expected)))
    if not max_diff <= TOLERANCE:
        raise ValueError(
            f"The preset in {folder!r}, loaded back by KerasHub, differs from the Keras model by {max_diff:.3g} "
            f"(more than {TOLERANCE}); nothing was written."
        )
    return max_diff


def _sizes(folder):
    for entry in os.scandir(folder):
        if entry.is_file():
            yield entry.stat().st_size


def preset_card(name, row, source=None):
    """The `README.md` of a preset folder: what it holds, where its weights come from, how to load it."""
    variant = row["variant"]
    if source is not None:
        repo = source.files[variant].repo
        origin = (
            f"{source.title}: [{repo}](https://huggingface.co/{repo}), converted by swiftformer-keras. "
            f"Published ImageNet-1k top-1: **{row['published_top1']}%** ({source.top1_source}; not measured "
            "here)."
        )
        license_line = f"license: {source.license if source.license == 'apache-2.0' else 'other'}"
    else:
        origin = f"Weights: `{row['weights']}` (your own)."
        license_line = "license: other"
    return f"""---
library_name: keras-hub
{license_line}
pipeline_tag: image-classification
tags:
- swiftformer
- keras
- keras-hub
- mobile
---

# {name}

SwiftFormer-{variant} ([ICCV 2023](https://arxiv.org/abs/2303.15446)) as a KerasHub `ImageClassifier`
({row["parameters"]:,} parameters). {origin}

| | |
|---|---|
| Attention | `{row["attention"]}` |
| Preprocessing | center crop {row["crop_pct"]:g}, bicubic resize to 224x224, ImageNet mean and std |
| Output | logits of the 1000 ImageNet classes (the average of the classifier and distillation heads) |

```python
import keras_hub
import swiftformer_keras  # registers SwiftFormer's classes with Keras and KerasHub

classifier = keras_hub.models.ImageClassifier.from_preset("{name}")  # a folder, or its kaggle:// or hf:// handle
logits = classifier.predict(images)  # uint8 RGB images of any size: the preprocessor crops and normalises
```

To a phone: `swiftformer_keras.presets.flat_models.model_from_classifier(classifier).save("model.keras")`,
then `python conversion/to_tflite.py --keras-model model.keras --int8 --calib-dir photos/`.

Written by `python conversion/to_preset.py` (swiftformer-keras, KerasHub {keras_hub.__version__}).
"""


def markdown(rows):
    """The run's presets as a Markdown table."""
    return markdown_table(
        [
            "preset",
            "variant",
            "weights",
            "attention",
            "crop",
            "published top-1",
            "parameters",
            "MB",
            "reloaded max |diff|",
        ],
        [
            [
                row["preset"],
                row["variant"],
                row["weights"],
                row["attention"],
                f"{row['crop_pct']:g}",
                "" if row["published_top1"] is None else f"{row['published_top1']}%",
                f"{row['parameters']:,}",
                f"{row['size_mb']:.1f}",
                f"{row['max_abs_diff']:.1e}",
            ]
            for row in rows
        ],
        align="lllllrrrr",
    )
