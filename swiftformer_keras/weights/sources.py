"""What `weights=` can name, read into weights for a model that is not built yet.

`load_weights` is the one function the builders (`swiftformer_keras.applications`)
call in the weights stage: it takes `weights=` (None, a name of the published
weights such as `"imagenet"`, or the path of a `.weights.h5`, `.keras` or
PyTorch checkpoint file), checks that the weights fit the model asked for, and
returns them with the attention formulation they were trained with, which the
model must be built with, the evaluation crop they expect, and a method that
fills the built model. A published name (`published.WEIGHT_NAMES`) downloads
the variant's hub checkpoint (`hub`), converts it once with
`convert_to_keras_weights` and caches the `.weights.h5`, which records the crop.
"""

import dataclasses
import os

from swiftformer_keras.models.architecture import variant_config, variant_name
from swiftformer_keras.utils.images import recorded_crop_pct
from swiftformer_keras.weights import checkpoints, hub, keras_files
from swiftformer_keras.weights.published import WEIGHT_NAMES, weight_source

WEIGHT_FILE_TYPES = ".weights.h5, .keras, .pth, .pt, .bin or .safetensors"
NAMES_TEXT = ", ".join(repr(name) for name in WEIGHT_NAMES)


@dataclasses.dataclass(frozen=True)
class LoadedWeights:
    """Weights read for a SwiftFormer that is not built yet.

    Attributes:
        state: `{variable path: array}`, as `architecture.variable_shapes` names the variables.
        attention: the attention formulation the weights were trained with: build the model with it.
        description: what the weights are, for error messages (a path, "the imagenet_timm weights of ...").
        crop_pct: the evaluation crop the weights expect (their source's, or their file's
            record), or None where nothing says.
    """

    state: dict
    attention: str
    description: str
    crop_pct: float | None = None

    def assign_to(self, model, keep_fresh=()):
        """Fills every variable of the built `model` from the weights, checking everything
        first; the variables under the `keep_fresh` path prefixes (e.g. `("classifier/",)`
        for a new head) keep their initial values (`keras_files.assign_state`)."""
        keras_files.assign_state(model, self.state, self.description, keep_fresh=keep_fresh)


def load_weights(weights, config, include_top, classes, attention):
    """Reads `weights` (None, a published name such as "imagenet", or a file path) for a
    model of `config`.

    `include_top` and `classes` describe the model's head (published weights need 1000
    classes with the top); `attention`, the formulation asked for, or None for the
    one the weights were trained with (random weights: `"l2"`).

    Returns:
        None for random initialisation (`weights=None`), else a `LoadedWeights`.

    Raises:
        ValueError: the weights cannot fit the requested model, or name no usable file.
        OSError: published weights could not be downloaded (the message says what to do offline).
    """
    if weights is None:
        return None
    if not isinstance(weights, (str, os.PathLike)):
        raise ValueError(f"weights must be None, {NAMES_TEXT} or a file path, got {type(weights).__name__}.")
    source = weight_source(weights)
    if source is not None:
        return _published_weights(source, config, include_top, classes, attention)
    path = os.fspath(weights)
    if os.path.isdir(path):
        raise ValueError(f"weights={path!r} is a folder, not a file; give the path of a {WEIGHT_FILE_TYPES} file.")
    if not os.path.exists(path):
        raise ValueError(
            f"weights={path!r}: no such file. Use None, {NAMES_TEXT} or the path to a {WEIGHT_FILE_TYPES} file."
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
    return LoadedWeights(state, attention or saved_attention or "l2", path, recorded_crop_pct(path))


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


def _published_weights(source, config, include_top, classes, attention):
    """The weights of `config`'s variant in `source` (a `published.WeightSource`), from the cache,
    else downloaded (`hub.fetch_checkpoint`) and converted into it once."""
    variant = config["name"]
    if variant not in source.files:
        raise ValueError(
            f"weights={source.name!r} exists only for the variants {sorted(source.files)}, "
            f"not for the custom config {config}."
        )
    if include_top and classes != 1000:
        raise ValueError(
            f"weights={source.name!r} with include_top=True needs classes=1000, got classes={classes}. "
            "For a new classifier, build include_top=False and add your own head."
        )
    description = f"the {source.name} weights of SwiftFormer-{variant}"
    _check_attention(attention, source.attention, description[0].upper() + description[1:])
    converted = hub.cached_conversion_path(source, variant)
    if not os.path.exists(converted):
        checkpoint = hub.fetch_checkpoint(source, variant)
        try:
            convert_to_keras_weights(checkpoint, converted, config=variant, crop_pct=source.crop_pct)
        except ValueError as error:  # the file read, not the disk written (a full disk is an OSError)
            raise _bad_cache_file(checkpoint, error, "it will be downloaded again") from error
    try:
        state = keras_files.read_keras_weights_file(converted, config)
    except ValueError as error:
        raise _bad_cache_file(converted, error, "it will be converted again from the cached checkpoint") from error
    return LoadedWeights(state, source.attention, description, source.crop_pct)


def _bad_cache_file(path, error, then):
    """The error for a cached file that cannot be used.

    The file is not deleted here: it may be one a user put there by hand
    (the offline advice says to), and it shows what a mirror served. The
    message says to delete it, and what happens then.
    """
    reason = " ".join(str(error).split()).rstrip(".")
    return ValueError(f"The cached file {path!r} cannot be used: {reason}. Delete it and try again; {then}.")


def convert_to_keras_weights(source, destination, config=None, attention=None, crop_pct=None):
    """Converts a PyTorch SwiftFormer checkpoint to a Keras `.weights.h5` file.

    The variant is detected from the checkpoint (or checked against `config`
    when given). The output holds the full classifier model (or the backbone
    and final norm of a checkpoint without heads), records the attention
    formulation and the evaluation crop `crop_pct` when given, and is written
    atomically. Returns `(destination, variant description, layout)`.
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
    keras_files.write_keras_weights_file(
        state, config, destination, attention=attention, source=os.fspath(source), crop_pct=crop_pct
    )
    return destination, variant_name(depths, widths), layout
