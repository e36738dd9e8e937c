"""Keras weight and model files of SwiftFormers: `.weights.h5` read and written strictly, `.keras` loaded.

A `.weights.h5` file is read, written and checked against the variables a model
of its config has (`architecture.variable_shapes`), without building a model:
the file must hold each variable where `model.save_weights` puts it, with its
shape, and nothing else. The attention formulation a model was trained with, and
the classes of its head, are read back from the file (`saved_attention_of`,
`saved_classes`), so that loading it builds the model the weights belong to.
`.keras` files (whole models) are checked before Keras reads them
(`load_keras_model_file`). `check_state` and `assign_state` put a state,
`{variable path: array}`, into a built model, all of it or nothing.

Loading a `.keras` file needs the SwiftFormer layers registered with Keras, which
importing `models.layers` does: that is why this module imports it. It stays here,
in the weights stage, rather than in models: models describe and build the graph
and read no files; the checks of a file users give (`weights=`, `--keras-model`,
`--teacher`) are this stage's.
"""

import collections
import json
import os
import re
import zipfile

import h5py
import keras
import ml_dtypes
import numpy as np

from swiftformer_keras.models import layers as _registered_layers  # noqa: F401  (.keras files name the SwiftFormer layers)
from swiftformer_keras.models.architecture import all_layers, variable_shapes, variant_name
from swiftformer_keras.utils.files import write_atomically
from swiftformer_keras.utils.images import record_model_facts

# The HDF5 attribute of a `.weights.h5` file that records the attention its weights were trained with.
ATTENTION_ATTRIBUTE = "swiftformer_attention"


def model_attention(model):
    """The attention formulation of a SwiftFormer model (its nested layers included)."""
    for layer in all_layers(model):
        if hasattr(layer, "attention_type"):
            return layer.attention_type
    raise ValueError(f"Model {model.name!r} is not a SwiftFormer (no attention layer).")


def saved_attention_of(path):
    """The attention formulation recorded in a `.weights.h5` file, or None."""
    try:
        with h5py.File(path, "r") as file:
            value = file.attrs.get(ATTENTION_ATTRIBUTE)
    except OSError as error:
        raise ValueError(f"{path!r} is not a readable .weights.h5 file ({error}).") from error
    return value.decode() if isinstance(value, bytes) else value


def save_weights_atomically(model, destination, attention=None, crop_pct=None, class_names=None):
    """`model.save_weights(destination)` through a temporary file and a rename.

    `attention` is recorded as an HDF5 attribute, so that loading the file
    later builds the formulation the weights were trained with; `crop_pct`,
    the evaluation crop the model was trained for, and `class_names`, its
    classes, likewise (`utils.images.record_model_facts`).
    """
    os.makedirs(os.path.dirname(os.path.abspath(destination)), exist_ok=True)

    def write(temp):
        model.save_weights(temp, overwrite=True)
        with h5py.File(temp, "a") as file:
            if "optimizer" in file:  # a compiled model saves its optimizer too; inference needs none
                del file["optimizer"]
            if attention:
                file.attrs[ATTENTION_ATTRIBUTE] = attention
        if crop_pct is not None or class_names is not None:
            record_model_facts(temp, crop_pct=crop_pct, class_names=class_names)

    return write_atomically(destination, write, keep_name=True, size_hint=hdf5_size_hint(model.weights))


def hdf5_size_hint(variables):
    """A generous estimate of the bytes an HDF5 file of `variables` takes on disk."""
    payload = sum(
        int(np.prod(v.shape)) * np.dtype(keras.backend.standardize_dtype(v.dtype)).itemsize for v in variables
    )
    # HDF5 adds a few kB of headers per dataset and group.
    return int(payload * 1.05) + 8192 * len(variables) + (1 << 20)


def saved_classes(path):
    """The class count of a SwiftFormer `.weights.h5` file's head, or None without one."""
    return _h5_structure(path)[0]


def _h5_structure(path):
    """What a `.weights.h5` file holds: `(classes or None, has_final_norm, variables)`."""
    try:
        with h5py.File(path, "r") as file:
            names = []
            file.visit(names.append)
            heads = [n for n in names if n.endswith("distilled_classifier/head/vars/0")]
            classes = int(file[heads[0]].shape[-1]) if heads else None
    except OSError as error:
        raise ValueError(f"{path!r} is not a readable .weights.h5 file ({error}).") from error
    has_norm = any(n == "layers/batch_normalization" for n in names)
    # A model saved while compiled also carries its optimizer's state: not weights.
    variables = sum(1 for n in names if re.search(r"/vars/\d+$", n) and not n.startswith("optimizer/"))
    return classes, has_norm, variables


# How `model.save_weights` lays out a functional model: each layer under
# `layers/<its class in snake case>`, numbered `_1`, `_2`, ... from the second
# of a class on, in the order of `model.layers`; sub-layers under their
# attribute names (here equal to their layer names); and the variables a layer
# creates itself as `vars/0`, `vars/1`, ... in creation order. Keras reads the
# same places back, so this is what `model.load_weights` relies on too.
_H5_LAYER_CLASSES = {
    "stem": "stem",
    "downsample": "downsample_embedding",
    "norm": "batch_normalization",
    "classifier": "distilled_classifier",
}


def _h5_dataset_names(shapes):
    """`{variable path: dataset name in a .weights.h5 file}` for the variables
    `shapes` of a SwiftFormer (`architecture.variable_shapes`, in model order)."""
    groups, per_class, per_owner, names = {}, collections.Counter(), collections.Counter(), {}
    for path in shapes:
        layer, _, rest = path.partition("/")
        if layer not in groups:
            if layer.startswith("stage"):  # the last block of a stage is the one with attention
                kind = "swift_former_block" if f"{layer}/attn/w_g" in shapes else "conv_encoder"
            else:
                kind = _H5_LAYER_CLASSES[layer.rstrip("0123456789")]
            number = per_class[kind]
            per_class[kind] += 1
            groups[layer] = f"layers/{kind}_{number}" if number else f"layers/{kind}"
        owner = "/".join([groups[layer], *rest.split("/")[:-1]])
        names[path] = f"{owner}/vars/{per_owner[owner]}"
        per_owner[owner] += 1
    return names


def read_keras_weights_file(path, config):
    """Reads a `.weights.h5` file saved from a SwiftFormer of `config` into
    `{variable path: float32 array}`, refusing files of another structure.

    The file must hold as many variables as such a model (with the file's own
    head and final norm, or without them), each where Keras puts it and with
    its shape (`architecture.variable_shapes`).
    """
    classes, has_norm, variables = _h5_structure(path)
    shapes = variable_shapes(config, classes=classes, final_norm=has_norm)
    wanted = variant_name(config["depths"], config["widths"])
    if variables != len(shapes):
        raise ValueError(
            f"{path!r} holds {variables} variables but {wanted} has {len(shapes)}. Was it saved from another variant?"
        )
    state = {}
    try:
        with h5py.File(path, "r") as file:
            for variable, name in _h5_dataset_names(shapes).items():
                dataset = file.get(name)
                if not isinstance(dataset, h5py.Dataset) or dataset.shape != shapes[variable]:
                    found = f"shape {dataset.shape}" if isinstance(dataset, h5py.Dataset) else "nothing"
                    raise ValueError(
                        f"{path!r} does not match {wanted}: {name!r} holds {found}, but {variable!r} "
                        f"needs shape {shapes[variable]}. Was it saved from another variant?"
                    )
                bfloat16 = dataset.attrs.get("dtype") == "bfloat16"  # how Keras marks bfloat16 variables
                value = np.array(dataset, dtype=ml_dtypes.bfloat16) if bfloat16 else dataset[()]
                state[variable] = np.asarray(value, dtype=np.float32)
    except OSError as error:  # h5py's error for damaged data
        raise ValueError(f"{path!r} is not a readable .weights.h5 file ({error}).") from error
    return state


def write_keras_weights_file(state, config, destination, attention=None, source="the checkpoint", crop_pct=None):
    """Writes `state` (`{variable path: array}` of a SwiftFormer of `config`:
    a full classifier, or a backbone with its final norm) as a `.weights.h5`
    file, atomically.

    The file is laid out as `model.save_weights` writes it, so that
    `model.load_weights` reads it as well; `attention` is recorded as in
    `save_weights_atomically`, and `crop_pct`, the evaluation crop, when given
    (`utils.images.record_model_facts`). Raises `ValueError` unless `state`
    fills exactly the variables of such a model.
    """
    classes = state["classifier/head/kernel"].shape[-1] if "classifier/head/kernel" in state else None
    shapes = variable_shapes(config, classes=classes)
    check_state(shapes, state, source)
    names = _h5_dataset_names(shapes)
    os.makedirs(os.path.dirname(os.path.abspath(destination)), exist_ok=True)

    def write(temp):
        with h5py.File(temp, "w") as file:
            for variable, name in names.items():
                file[name] = np.asarray(state[variable])
            if attention:
                file.attrs[ATTENTION_ATTRIBUTE] = attention
        if crop_pct is not None:
            record_model_facts(temp, crop_pct=crop_pct)

    return write_atomically(destination, write, keep_name=True, size_hint=hdf5_size_hint(list(state.values())))


def load_keras_model_file(path):
    """Loads a `.keras` model file (`compile=False`, `safe_mode=True`) after
    checking that it is one.

    Every `.keras` file the project reads (weights=, --keras-model,
    --teacher) comes through here.

    Raises:
        ValueError: naming the file: it does not exist, is a folder, is not a
            zip archive with a `config.json` (a text file named `.keras`, say),
            or Keras cannot build the model it describes.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ValueError(f"{path!r} is a folder, not a .keras file.")
    if not os.path.exists(path):
        raise ValueError(f"Keras model file {path!r} does not exist.")
    problem = None
    if not zipfile.is_zipfile(path):
        problem = "it is not a zip archive"
    else:
        try:
            with zipfile.ZipFile(path) as archive:
                json.loads(archive.read("config.json"))
        except KeyError:
            problem = "it has no config.json"
        except (zipfile.BadZipFile, OSError, ValueError) as error:  # JSON and UTF-8 errors are ValueErrors
            problem = f"its config.json cannot be read: {error}"
    if problem:
        raise ValueError(
            f"{path!r} exists but is not a Keras .keras model ({problem}); give a file written by "
            "model.save('name.keras')."
        )
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as error:  # Keras raises many types for foreign or corrupt files
        reason = " ".join(str(error).split())
        raise ValueError(f"{path!r} is not a loadable .keras model ({reason}).") from error


def read_keras_model_file(path):
    """Reads the weights of a `.keras` SwiftFormer file by variable path.

    Returns `(state, attention)`, the attention formulation of the saved model.
    """
    model = load_keras_model_file(path)
    try:
        attention = model_attention(model)
    except ValueError:
        raise ValueError(f"{path!r} is a Keras model but not a SwiftFormer (no attention layer).") from None
    state = {variable.path: keras.ops.convert_to_numpy(variable) for variable in model.weights}
    return state, attention


def check_state(shapes, state, source="the checkpoint", optional=()):
    """Raises `ValueError` unless `state` (`{variable path: array}`) fills
    every variable of `shapes` (`{path: shape}`) with an array of its shape
    and holds nothing else, except entries under the `optional` path prefixes."""
    for path, shape in shapes.items():
        if path not in state:
            raise ValueError(
                f"{source} does not fill the model variable {path!r} "
                f"(shape {tuple(shape)}); it is not a checkpoint of this model."
            )
        if tuple(state[path].shape) != tuple(shape):
            raise ValueError(
                f"{source}: {path!r} has shape {tuple(state[path].shape)} in the checkpoint "
                f"but {tuple(shape)} in the model (wrong variant or number of classes?)."
            )
    unused = sorted(k for k in state if k not in shapes and not k.startswith(tuple(optional)))
    if unused:
        raise ValueError(
            f"{source} has {len(unused)} entries the model does not use, first {unused[0]!r}; "
            "it is not a checkpoint of this model."
        )


def assign_state(model, state, source="the checkpoint", keep_fresh=()):
    """Fills every variable of `model` from `state` (`{variable path: array}`).

    Each variable must be present with the same shape, and every entry of the
    state must be used, except the classifier (and final norm) of a full model
    loaded into a backbone. Variables under the `keep_fresh` path prefixes
    (e.g. `("classifier/",)` for a new head) keep their initial values and
    the state's entries there are ignored. Nothing is assigned unless
    everything matches.
    """
    layer_names = {layer.name for layer in model.layers}
    optional = tuple(keep_fresh) + tuple(
        prefix for prefix, layer in (("classifier/", "classifier"), ("norm/", "norm")) if layer not in layer_names
    )
    variables = [v for v in model.weights if not v.path.startswith(tuple(keep_fresh))]
    check_state({v.path: tuple(v.shape) for v in variables}, state, source, optional)
    for variable in variables:
        variable.assign(state[variable.path])
