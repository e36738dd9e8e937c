"""What the KerasHub stage is asked to read and write, checked before any model is built (no Keras here).

`plan_presets` names each preset folder a run writes (`preset_name`) and refuses, in a
second, an unknown variant, weights that are neither published nor a file, and a
destination that is not an earlier preset folder; `conversion/to_preset.py` calls it
before it starts Keras, and `preset_folders.write_presets` again before it builds
anything. `keras_hub_kind` tells a KerasHub SwiftFormer (a preset folder, or a `.keras`
file a KerasHub model saved) from a flat one, by the class its `config.json` names, so
that `to_tflite --keras-model` knows to flatten it (`flat_models.write_flat_model`).
"""

import json
import os
import zipfile

from swiftformer_keras.models.architecture import VARIANTS
from swiftformer_keras.utils import files
from swiftformer_keras.weights.published import WEIGHT_NAMES, weight_source

# The file an earlier run wrote in every preset folder (KerasHub's own), which a new run may replace
# (`files.replace_folder`): a folder without it is someone's own files, and is never replaced.
MARKER = "metadata.json"
# The registered names of the KerasHub classes whose models the TFLite path takes, flattened.
KERAS_HUB_MODELS = ("swiftformer_keras>SwiftFormerImageClassifier", "swiftformer_keras>SwiftFormerBackbone")


def preset_name(variant, weights):
    """`swiftformer_<variant>_<source>` for published weights (`imagenet` is named after the source it
    stands for), `swiftformer_<variant>_<file stem>` for a weights file."""
    source = weight_source(weights)
    if source is not None:
        suffix = source.name
    else:
        suffix = os.path.basename(os.fspath(weights)).removesuffix(".weights.h5")
    return f"swiftformer_{variant.lower()}_{suffix}"


def plan_presets(output_dir, variants, weights):
    """Refuses, before any model is built, an unknown variant, weights that are neither a published
    name nor an existing `.weights.h5` file, and a destination that is not an earlier result.

    Returns:
        `[(variant, weights, destination folder)]`, one per preset to write.
    """
    variants = [variant.upper() for variant in variants]
    for variant in variants:
        if variant not in VARIANTS:
            raise ValueError(f"Unknown variant {variant!r}; use one of {', '.join(VARIANTS)}.")
    for name in weights:
        if weight_source(name) is None and not (str(name).endswith(".weights.h5") and os.path.isfile(name)):
            raise ValueError(
                f"--weights {name!r} is neither published weights ({', '.join(WEIGHT_NAMES)}) nor a .weights.h5 file."
            )
    planned = {}
    for variant in variants:
        for name in weights:
            destination = os.path.join(os.fspath(output_dir), preset_name(variant, name))
            files.check_replaceable("the preset folder", destination, MARKER)
            if weight_source(name) is None and _inside(name, destination):
                raise ValueError(
                    f"--weights {name!r} lies inside the preset folder {destination!r}, which this run replaces; "
                    "move the file out of it first."
                )
            planned[destination] = (variant, name, destination)  # imagenet and imagenet_timm: one folder
    return list(planned.values())


def _inside(path, folder):
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return os.path.commonpath([path, folder]) == folder


def keras_hub_kind(path):
    """`"preset"` for a preset folder of a SwiftFormer KerasHub model, `"keras"` for a `.keras` file one
    saved, None for anything else (a flat SwiftFormer `.keras` file, a missing path, other files)."""
    path = os.fspath(path)
    try:
        if os.path.isdir(path):
            names = [_registered_name(os.path.join(path, name)) for name in ("task.json", "config.json")]
            return "preset" if any(name in KERAS_HUB_MODELS for name in names) else None
        if path.endswith(".keras") and zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                config = json.loads(archive.read("config.json"))
            return "keras" if isinstance(config, dict) and config.get("registered_name") in KERAS_HUB_MODELS else None
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
    return None


def _registered_name(path):
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as file:
        config = json.load(file)
    return config.get("registered_name") if isinstance(config, dict) else None
