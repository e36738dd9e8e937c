"""What `weights=` can name, read into weights for a model that is not built yet.

`load_weights` is the one function the builders (`swiftformer_keras.applications`)
call in the weights stage: it takes `weights=` (None, `"imagenet"`, or the path of a
`.weights.h5`, `.keras` or PyTorch checkpoint file), checks that the weights fit
the model asked for, and returns them with the attention formulation they were
trained with, which the model must be built with, and a method that fills the
built model. `"imagenet"` downloads the variant's hub checkpoint (`hub`),
converts it once with `convert_to_keras_weights` and caches the `.weights.h5`.
"""

import dataclasses
import os

from swiftformer_keras.models.architecture import variant_config, variant_name
from swiftformer_keras.weights import checkpoints, hub, keras_files

WEIGHT_FILE_TYPES = ".weights.h5, .keras, .pth, .pt, .bin or .safetensors"


@dataclasses.dataclass(frozen=True)
class LoadedWeights:
    """Weights read for a SwiftFormer that is not built yet.

    Attributes:
        state: `{variable path: array}`, as `architecture.variable_shapes` names the variables.
        attention: the attention formulation the weights were trained with: build the model with it.
        description: what the weights are, for error messages (a path, "ImageNet weights of ...").
    """

    state: dict
    attention: str
    description: str

    def assign_to(self, model, keep_fresh=()):
        """Fills every variable of the built `model` from the weights, checking everything
        first; the variables under the `keep_fresh` path prefixes (e.g. `("classifier/",)`
        for a new head) keep their initial values (`keras_files.assign_state`)."""
        keras_files.assign_state(model, self.state, self.description, keep_fresh=keep_fresh)


def load_weights(weights, config, include_top, classes, attention):
    """Reads `weights` (None, "imagenet" or a file path) for a model of `config`.

    `include_top` and `classes` describe the model's head (`"imagenet"` needs 1000
    classes with the top); `attention`, the formulation asked for, or None for the
    one the weights were trained with (random weights: `"l2"`).

    Returns:
        None for random initialisation (`weights=None`), else a `LoadedWeights`.

    Raises:
        ValueError: the weights cannot fit the requested model, or name no usable file.
        OSError: `"imagenet"` could not be downloaded (the message says what to do offline).
    """
    if weights is None:
        return None
    if not isinstance(weights, (str, os.PathLike)):
        raise ValueError(f"weights must be None, 'imagenet' or a file path, got {type(weights).__name__}.")
    if weights == "imagenet":
        return _imagenet_weights(config, include_top, classes, attention)
    path = os.fspath(weights)
    if os.path.isdir(path):
        raise ValueError(f"weights={path!r} is a folder, not a file; give the path of a {WEIGHT_FILE_TYPES} file.")
    if not os.path.exists(path):
        raise ValueError(
            f"weights={path!r}: no such file. Use None, 'imagenet' or the path to a {WEIGHT_FILE_TYPES} file."
        )
    if path.endswith(".weights.h5"):
        saved_attention = keras_files.saved_attention_of(path)
        _check_attention(attention, saved_attention, path)
        state = keras_files.read_keras_weights_file(path, config)
    elif path.endswith(".keras"):
        state, saved_attention = keras_files.read_keras_model_file(path)
        _check_attention(attention, saved_attention, path)
    elif path.endswith((*checkpoints.TORCH_SUFFIXES, checkpoints.SAFETENSORS_SUFFIX)):
        state, layout, (depths, widths) = checkpoints.load_torch_checkpoint(path)
        _check_architecture(depths, widths, config, path)
        # A PyTorch file records no attention: its layout's published weights say which is likely,
        # and `attention` may overrule that (a transformers-layout file of "l2" weights, say).
        saved_attention = checkpoints.LAYOUT_ATTENTION[layout]
    else:
        raise ValueError(f"Unrecognised checkpoint type: {path!r}. weights= takes a {WEIGHT_FILE_TYPES} file.")
    return LoadedWeights(state, attention or saved_attention or "l2", path)


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


def _imagenet_weights(config, include_top, classes, attention):
    """The published ImageNet weights of `config`'s variant, from the cache, else downloaded
    (`hub.fetch_imagenet_checkpoint`) and converted into it once."""
    variant = config["name"]
    if variant not in hub.HUB_FILES:
        raise ValueError(
            f"weights='imagenet' exists only for the variants {sorted(hub.HUB_FILES)}, "
            f"not for the custom config {config}."
        )
    if include_top and classes != 1000:
        raise ValueError(
            f"weights='imagenet' with include_top=True needs classes=1000, got classes={classes}. "
            "For a new classifier, build include_top=False and add your own head."
        )
    hub_attention = hub.HUB_FILES[variant].attention
    _check_attention(attention, hub_attention, f"The ImageNet weights of SwiftFormer-{variant}")
    converted = hub.cached_conversion_path(variant)
    if not os.path.exists(converted):
        source = hub.fetch_imagenet_checkpoint(variant)
        try:
            convert_to_keras_weights(source, converted, config=variant)
        except ValueError as error:  # the file read, not the disk written (a full disk is an OSError)
            raise _bad_cache_file(source, error, "it will be downloaded again") from error
    try:
        state = keras_files.read_keras_weights_file(converted, config)
    except ValueError as error:
        raise _bad_cache_file(converted, error, "it will be converted again from the cached checkpoint") from error
    return LoadedWeights(state, hub_attention, f"ImageNet weights of SwiftFormer-{variant}")


def _bad_cache_file(path, error, then):
    """The error for a cached file that cannot be used.

    The file is not deleted here: it may be one a user put there by hand
    (the offline advice says to), and it shows what a mirror served. The
    message says to delete it, and what happens then.
    """
    reason = " ".join(str(error).split()).rstrip(".")
    return ValueError(f"The cached file {path!r} cannot be used: {reason}. Delete it and try again; {then}.")


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
    keras_files.write_keras_weights_file(state, config, destination, attention=attention, source=os.fspath(source))
    return destination, variant_name(depths, widths), layout
