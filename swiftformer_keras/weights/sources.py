"""Pretrained weights: resolution, strict loading, download and cache.

`weights="imagenet"` fetches the published checkpoint of the variant from the
Hugging Face hub (or a mirror named by `SWIFTFORMER_WEIGHTS_URL`), verifies
it, converts it once and caches the Keras `.weights.h5` under
`$KERAS_HOME/models/swiftformer/` (default `~/.keras`). Every file is written
to a temporary name and renamed into place, so an interrupted download or
conversion never leaves a partial file in the cache.

No model is built here: a `.weights.h5` file is read, written and checked
through `architecture.variable_shapes`, so that the builders (`model`) can
call this module and not the reverse.
"""

import collections
import hashlib
import json
import os
import re
import urllib.error
import urllib.request
import zipfile

import h5py
import keras
import ml_dtypes
import numpy as np

from swiftformer_keras.weights import checkpoints
from swiftformer_keras.models import layers as _registered_layers  # noqa: F401  (.keras files name the SwiftFormer layers)
from swiftformer_keras.models.architecture import all_layers, variable_shapes, variant_config, variant_name
from swiftformer_keras.utils.files import write_atomically
from swiftformer_keras.utils.images import record_model_facts

BASE_URL_ENV = "SWIFTFORMER_WEIGHTS_URL"
DEFAULT_BASE_URL = "https://huggingface.co"
CACHE_SUBDIR = os.path.join("models", "swiftformer")
# Bump when the conversion changes, so that stale converted files are not reused.
CONVERSION_VERSION = 1
ATTENTION_ATTRIBUTE = "swiftformer_attention"

HubFile = collections.namedtuple("HubFile", "repo filename sha256 attention")
# The MBZUAI/swiftformer-* hub repositories hold the first-release weights
# (uniform "softmax" pooling in the attention). `sha256` None means the digest
# announced by the server (the hub's X-Linked-Etag) is checked instead.
HUB_FILES = {
    "XS": HubFile("MBZUAI/swiftformer-xs", "model.safetensors", None, "softmax"),
    "S": HubFile("MBZUAI/swiftformer-s", "pytorch_model.bin", None, "softmax"),
    "L1": HubFile("MBZUAI/swiftformer-l1", "pytorch_model.bin", None, "softmax"),
    "L3": HubFile("MBZUAI/swiftformer-l3", "pytorch_model.bin", None, "softmax"),
}
OFFICIAL_CHECKPOINTS = "https://github.com/Amshaker/SwiftFormer#models"

WeightSource = collections.namedtuple("WeightSource", "state attention description")
WEIGHT_FILE_TYPES = ".weights.h5, .keras, .pth, .pt, .bin or .safetensors"


def cache_dir():
    """The folder holding downloaded and converted weights."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(home, CACHE_SUBDIR)


def hub_url(variant):
    """The download URL of a variant's ImageNet checkpoint (mirror-aware)."""
    entry = HUB_FILES[variant]
    base = os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
    return f"{base.rstrip('/')}/{entry.repo}/resolve/main/{entry.filename}"


def _source_path(variant):
    entry = HUB_FILES[variant]
    return os.path.join(cache_dir(), f"swiftformer_{variant.lower()}_{entry.filename}")


def _converted_path(variant):
    name = f"swiftformer_{variant.lower()}_imagenet_v{CONVERSION_VERSION}.weights.h5"
    return os.path.join(cache_dir(), name)


def resolve_weights(weights, config, include_top, classes, attention):
    """Reads `weights` (None, "imagenet" or a path) into a `WeightSource`.

    Returns None for random initialisation. Raises `ValueError` when the
    weights cannot fit the requested model.
    """
    if weights is None:
        return None
    if not isinstance(weights, (str, os.PathLike)):
        raise ValueError(
            f"weights must be None, 'imagenet' or a file path, got {type(weights).__name__}."
        )
    if weights == "imagenet":
        return _imagenet_source(config, include_top, classes, attention)
    path = os.fspath(weights)
    if os.path.isdir(path):
        raise ValueError(f"weights={path!r} is a folder, not a file; give the path of a {WEIGHT_FILE_TYPES} file.")
    if not os.path.exists(path):
        raise ValueError(
            f"weights={path!r}: no such file. Use None, 'imagenet' or the path to a {WEIGHT_FILE_TYPES} file."
        )
    if path.endswith(".weights.h5"):
        saved_attention = saved_attention_of(path)
        _check_attention(attention, saved_attention, path)
        attention = attention or saved_attention or "l2"
        return WeightSource(read_keras_weights_file(path, config), attention, path)
    if path.endswith(".keras"):
        state, saved_attention = read_keras_model_file(path)
        _check_attention(attention, saved_attention, path)
        return WeightSource(state, attention or saved_attention or "l2", path)
    if not path.endswith((*checkpoints.TORCH_SUFFIXES, checkpoints.SAFETENSORS_SUFFIX)):
        raise ValueError(f"Unrecognised checkpoint type: {path!r}. weights= takes a {WEIGHT_FILE_TYPES} file.")
    state, layout, (depths, widths) = checkpoints.load_torch_checkpoint(path)
    _check_architecture(depths, widths, config, path)
    return WeightSource(state, attention or checkpoints.LAYOUT_ATTENTION[layout], path)


def _check_attention(requested, available, source):
    if requested and available and requested != available:
        raise ValueError(
            f"{source} was trained with attention={available!r}; building it with "
            f"attention={requested!r} would give wrong outputs. Pass attention=None."
        )


def _check_architecture(depths, widths, config, source):
    if tuple(depths) != config["depths"] or tuple(widths) != config["widths"]:
        found = variant_name(depths, widths)
        wanted = variant_name(config["depths"], config["widths"])
        raise ValueError(
            f"{source} holds {found}, but the model being built is {wanted}. "
            "Use the builder of the checkpoint's variant."
        )


def _imagenet_source(config, include_top, classes, attention):
    variant = config["name"]
    if variant not in HUB_FILES:
        raise ValueError(
            f"weights='imagenet' exists only for the variants {sorted(HUB_FILES)}, "
            f"not for the custom config {config}."
        )
    if include_top and classes != 1000:
        raise ValueError(
            f"weights='imagenet' with include_top=True needs classes=1000, got classes={classes}. "
            "For a new classifier, build include_top=False and add your own head."
        )
    hub_attention = HUB_FILES[variant].attention
    _check_attention(attention, hub_attention, f"The ImageNet weights of SwiftFormer-{variant}")
    converted = _converted_path(variant)
    if not os.path.exists(converted):
        source = fetch_imagenet_checkpoint(variant)
        try:
            convert_to_keras_weights(source, converted, config=variant)
        except ValueError as error:  # the file read, not the disk written (a full disk is an OSError)
            raise _bad_cache_file(source, error, "it will be downloaded again") from error
    try:
        state = read_keras_weights_file(converted, config)
    except ValueError as error:
        raise _bad_cache_file(converted, error, "it will be converted again from the cached checkpoint") from error
    return WeightSource(state, hub_attention, f"ImageNet weights of SwiftFormer-{variant}")


def _bad_cache_file(path, error, then):
    """The error for a cached file that cannot be used.

    The file is not deleted here: it may be one a user put there by hand
    (the offline advice says to), and it shows what a mirror served. The
    message says to delete it, and what happens then.
    """
    reason = " ".join(str(error).split()).rstrip(".")
    return ValueError(f"The cached file {path!r} cannot be used: {reason}. Delete it and try again; {then}.")


def fetch_imagenet_checkpoint(variant):
    """Returns the local path of a variant's ImageNet checkpoint, downloading it
    into the cache unless it is already there and intact."""
    entry = HUB_FILES[variant]
    path = _source_path(variant)
    if os.path.exists(path):
        if entry.sha256 is None or sha256_of(path) == entry.sha256:
            return path
        os.remove(path)
    url = hub_url(variant)

    def check_format(temp):
        # With no sha256 pinned or announced, this is all that stands between
        # a mirror's error page and the cache.
        try:
            checkpoints.check_checkpoint_file(temp, name=entry.filename)
        except ValueError as error:
            raise ValueError(
                f"{url} did not send a checkpoint: {error}. Nothing was kept. If {BASE_URL_ENV} names "
                "a mirror, it must serve the file itself at <repo>/resolve/main/<file>."
            ) from error

    try:
        download(url, path, entry.sha256, check=check_format)
    except urllib.error.HTTPError as error:
        raise OSError(
            f"Could not download the ImageNet weights of SwiftFormer-{variant}: {url} answered "
            f"HTTP {error.code} {error.reason}. If {BASE_URL_ENV} names a mirror, it must serve "
            f"<repo>/resolve/main/<file>; or put the file at {path} yourself."
        ) from error
    except urllib.error.URLError as error:
        raise OSError(
            f"Could not download the ImageNet weights of SwiftFormer-{variant} from {url} "
            f"({getattr(error, 'reason', error)}). If this machine is offline, fetch that file "
            f"elsewhere and put it at {path}, or set {BASE_URL_ENV} to a mirror that serves "
            f"<repo>/resolve/main/<file>, or pass weights='/path/to/{entry.filename}'."
        ) from error
    return path


def sha256_of(path, chunk_size=1 << 20):
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _announced_sha256(headers):
    """The sha256 that a Hugging Face-style server announces for a file, if any."""
    for name in ("X-Linked-Etag", "ETag"):
        value = (headers.get(name) or "").strip().strip('"').removeprefix("W/").strip('"')
        if re.fullmatch(r"[0-9a-f]{64}", value):
            return value
    return None


def download(url, path, sha256=None, timeout=60, chunk_size=1 << 16, check=None):
    """Downloads `url` to `path` atomically, with a progress bar.

    The file is verified against `sha256` (or, when None, against the digest
    the server announces), against its announced length, and by `check`
    (called with the complete temporary file; it raises `ValueError` to
    refuse it); only a complete, verified file is renamed into place. Raises
    `urllib.error.URLError` when the server cannot be reached, `OSError` for
    an interrupted transfer and `ValueError` for a checksum mismatch or a file
    `check` refuses.
    """
    from tqdm.auto import tqdm

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    request = urllib.request.Request(url, headers={"User-Agent": "swiftformer-keras"})

    def fetch(temp):
        with open(temp, "wb") as out, urllib.request.urlopen(request, timeout=timeout) as response:
            expected_sha = sha256 or _announced_sha256(response.headers)
            length = response.headers.get("Content-Length")
            length = int(length) if length and length.isdigit() else None
            digest, received = hashlib.sha256(), 0
            with tqdm(total=length, unit="B", unit_scale=True, desc=os.path.basename(path)) as bar:
                while True:
                    try:
                        chunk = response.read(chunk_size)
                    except Exception as error:  # http.client.IncompleteRead, resets
                        raise OSError(f"Download of {url} was interrupted ({error}).") from error
                    if not chunk:
                        break
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
        if length is not None and received != length:
            raise OSError(
                f"Download of {url} was interrupted: got {received} of {length} bytes. "
                "Nothing was kept; try again."
            )
        if expected_sha and digest.hexdigest() != expected_sha:
            raise ValueError(
                f"Checksum mismatch for {url}: expected sha256 {expected_sha}, got "
                f"{digest.hexdigest()}. The file was discarded; the mirror may serve a "
                "different or corrupted file."
            )
        if check is not None:
            check(temp)

    return write_atomically(path, fetch)


def convert_to_keras_weights(source, destination, config=None, attention=None):
    """Converts a PyTorch SwiftFormer checkpoint to a Keras `.weights.h5` file.

    The variant is detected from the checkpoint (or checked against `config`
    when given). The output holds the full classifier model (or the backbone
    and final norm of a checkpoint without heads), records the attention
    formulation and is written atomically. Returns `(destination, variant
    description, layout)`.
    """
    destination = os.fspath(destination)
    if not destination.endswith(".weights.h5"):
        raise ValueError(f"The destination must end in .weights.h5, got {destination!r}.")
    folder = os.path.dirname(os.path.abspath(destination))
    if not os.path.isdir(folder):
        raise ValueError(f"The destination folder {folder!r} does not exist.")
    state, layout, (depths, widths) = checkpoints.load_torch_checkpoint(source)
    if config is None:
        config = {"name": "custom", "depths": depths, "widths": widths}
    config = variant_config(config)
    _check_architecture(depths, widths, config, os.fspath(source))
    attention = attention or checkpoints.LAYOUT_ATTENTION[layout]
    write_keras_weights_file(state, config, destination, attention=attention, source=os.fspath(source))
    return destination, variant_name(depths, widths), layout


def model_attention(model):
    """The attention formulation of a SwiftFormer model."""
    for layer in model.layers:
        if hasattr(layer, "attention_type"):
            return layer.attention_type
    raise ValueError(f"Model {model.name!r} is not a SwiftFormer (no attention block).")


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
    classes, likewise (`imagenet_utils.record_model_facts`).
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
    payload = sum(int(np.prod(v.shape)) * np.dtype(keras.backend.standardize_dtype(v.dtype)).itemsize for v in variables)
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
            f"{path!r} holds {variables} variables but {wanted} has {len(shapes)}. "
            "Was it saved from another variant?"
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


def write_keras_weights_file(state, config, destination, attention=None, source="the checkpoint"):
    """Writes `state` (`{variable path: array}` of a SwiftFormer of `config`:
    a full classifier, or a backbone with its final norm) as a `.weights.h5`
    file, atomically.

    The file is laid out as `model.save_weights` writes it, so that
    `model.load_weights` reads it as well; `attention` is recorded as in
    `save_weights_atomically`. Raises `ValueError` unless `state` fills
    exactly the variables of such a model.
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

    return write_atomically(destination, write, size_hint=hdf5_size_hint(list(state.values())))


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
    attention = next((layer.attention_type for layer in all_layers(model) if hasattr(layer, "attention_type")), None)
    if attention is None:
        raise ValueError(f"{path!r} is a Keras model but not a SwiftFormer (no attention layer).")
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
        prefix
        for prefix, layer in (("classifier/", "classifier"), ("norm/", "norm"))
        if layer not in layer_names
    )
    variables = [v for v in model.weights if not v.path.startswith(tuple(keep_fresh))]
    check_state({v.path: tuple(v.shape) for v in variables}, state, source, optional)
    for variable in variables:
        variable.assign(state[variable.path])
