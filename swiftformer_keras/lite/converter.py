"""TensorFlow Lite (LiteRT) export of SwiftFormer models.

    export_tflite(model, "swiftformer_xs.tflite")      # fp32, input (1, H, W, 3), builtin ops only

The runner of the files it writes is `tflite_predictor.tflite_runner` (no Keras).

The conversion goes through a SavedModel written by `keras.export.ExportArchive`
and `tf.lite.TFLiteConverter.from_saved_model`, the route Keras 3 itself takes
for `model.export(format="litert")`; unlike that call, only the builtin op set
is allowed (a phone runtime without the Flex delegate must run the file), and
the file is written atomically. The SavedModel is a `files.partial_folder`
beside the destination (or in the temp folder when there is none): a run
killed mid-way leaves a recognisable `.<name>.partial-<pid>-<token>` folder
that the next run removes, and a full disk ends in one `DiskFullError`.
"""

import collections
import contextlib
import os
import re
import tempfile

import keras
import numpy as np

from swiftformer_keras.lite import metadata as tflite_metadata
from swiftformer_keras.utils.files import check_output_paths, partial_folder, write_bytes_atomically
from swiftformer_keras.utils.images import IMAGENET_MEAN, IMAGENET_STD, imagenet_class_index
from swiftformer_keras.lite.interpreter import make_interpreter
from swiftformer_keras.models.layers import DistilledClassifier, PixelNormalization, Stem, norm_as_affine
from swiftformer_keras.lite.recipe import (
    CLASSIFIER_ACTIVATIONS, DEFAULT_MIN_RUNTIME, INPUT_TYPES, IO_TYPES, MODES, check_recipe, recipe_for,
)
from swiftformer_keras.lite.runtime_versions import (
    builtin_op_names, check_min_runtime, check_runtime_choice, operators,
)

TFLITE_SUFFIX = ".tflite"
# ImageNet's normalisation in pixel units: what SwiftFormer's inputs are normalised with.
IMAGENET_PIXEL_NORMALIZATION = (tuple(255 * v for v in IMAGENET_MEAN), tuple(255 * v for v in IMAGENET_STD))
SIGNATURE_KEY = "serving_default"
SIGNATURE_INPUT = "image"


def output_kind(model):
    """What `model` returns, by its last layers: `"probabilities"` (a softmax), `"logits"`
    (a SwiftFormer head or a Dense layer without activation) or `"features"` (a backbone)."""
    last = model.layers[-1]
    if isinstance(last, keras.Model):  # a model wrapped by `with_pixel_input`
        return output_kind(last)
    activation = getattr(last, "activation", None)
    if isinstance(last, keras.layers.Softmax) or getattr(activation, "__name__", None) == "softmax":
        return "probabilities"
    if isinstance(last, (DistilledClassifier, keras.layers.Dense)) and len(model.outputs[0].shape) == 2:
        return "logits"
    return "features"


def with_classifier_activation(model, activation):
    """`model` with its classifier's output `activation`: `"softmax"` (probabilities, as the
    SwiftFormer builders and keras.applications default to) or None (logits).

    A logits model gets a softmax layer named `probabilities`; a probabilities
    model whose last layer is the softmax loses it; `model` itself when it
    already returns that.

    Raises:
        ValueError: `model` has no classifier head (a backbone), its softmax
            is inside another layer and cannot be removed, or a softmax is
            asked of a one-logit head (it would be 1.0 whatever the input).
    """
    if activation not in CLASSIFIER_ACTIVATIONS:
        raise ValueError(f"Unknown classifier_activation {activation!r}; use 'softmax' or None (logits).")
    kind = output_kind(model)
    if kind == "features":
        raise ValueError(f"Model {model.name!r} has no classifier head; classifier_activation needs one.")
    if activation == "softmax" and model.outputs[0].shape[-1] == 1:
        # Refused rather than swapped for a sigmoid: whether the logit is a probability's is the model's to say.
        raise ValueError(
            f"Model {model.name!r} has a one-logit head, and a softmax over one class is 1.0 for every input; "
            "export its logit (classifier_activation=None, --classifier-activation none) and apply a sigmoid "
            "to it if it is a binary classifier's."
        )
    if (kind == "probabilities") == (activation == "softmax"):
        return model
    if activation == "softmax":
        outputs = keras.layers.Activation("softmax", name="probabilities")(model.outputs[0])
        return keras.Model(model.inputs, outputs, name=model.name)
    last = model.layers[-1]
    if not isinstance(last, (keras.layers.Softmax, keras.layers.Activation)):
        raise ValueError(
            f"Model {model.name!r} computes its softmax inside {last.name!r}; rebuild it with "
            "classifier_activation=None to export logits."
        )
    return keras.Model(model.inputs, last.input, name=model.name)


def with_final_norm_folded(model):
    """A copy of `model`, same function, whose SwiftFormer head has no BatchNorm: the norm
    before the average pooling (`norm`, `avg_pool`, `classifier`) is folded into both heads
    of the classifier, `head(mean(x * a + b)) = mean(x) (a W) + (b W + c)` (exact: an average
    commutes with a per-channel affine map). In an int8 file the norm's ADD is the one whose
    constant input can fall below XNNPACK's ADD scale limit (its shift far finer than the
    activations before it), which splits the graph; folded, it is gone, with its MUL, in
    every mode. `model` itself when it has no such head (a backbone, max pooling)."""
    try:
        norm, pool, head = (model.get_layer(name) for name in ("norm", "avg_pool", "classifier"))
    except ValueError:
        return model
    chained = (isinstance(norm, keras.layers.BatchNormalization) and norm.center and norm.scale
               and isinstance(pool, keras.layers.GlobalAveragePooling2D) and isinstance(head, DistilledClassifier)
               and pool.input is norm.output and head.input is pool.output)
    if not chained:
        return model
    after = model.layers[model.layers.index(head) + 1:]
    if not (model.outputs[0] is head.output or (len(after) == 1 and after[0].input is head.output
                                                 and model.outputs[0] is after[0].output)):
        return model
    scale, shift = (keras.ops.convert_to_numpy(value).astype(np.float64) for value in norm_as_affine(norm, "float32"))
    # The backbone's layers are shared with `model`, as `with_classifier_activation` shares them.
    folded = DistilledClassifier.from_config(head.get_config())
    outputs = folded(pool(norm.input))
    for dense in ("head", "dist_head"):
        kernel, bias = (np.asarray(weight, np.float64) for weight in getattr(head, dense).get_weights())
        getattr(folded, dense).set_weights([kernel * scale[:, None], bias + shift @ kernel])
    for layer in after:
        outputs = layer(outputs)
    return keras.Model(model.input, outputs, name=model.name)


def with_pixel_input(model, dtype="float32", normalization=IMAGENET_PIXEL_NORMALIZATION):
    """`model` taking RGB pixels in [0, 255] as `dtype` (`"float32"` or `"uint8"`, camera
    bytes), normalised with `normalization` (`(mean, std)` in pixel units, ImageNet's by
    default): a copy, same weights, whose `Stem` folds the normalisation into its first
    convolution (`Stem(pixel_normalization=...)`) when the model's input goes straight
    into one (SwiftFormer), else the model behind a `PixelNormalization`."""
    if dtype not in ("float32", "uint8"):
        raise ValueError(f"Pixel input is float32 or uint8, got {dtype!r}.")
    inputs = keras.Input(model.inputs[0].shape[1:], dtype=dtype, name=SIGNATURE_INPUT)
    stem = _input_stem(model)
    if stem is None:
        x = PixelNormalization(*normalization, name="pixel_normalization")(inputs)
        return keras.Model(inputs, model(x), name=model.name)

    def clone(layer):
        config = layer.get_config()
        if layer is stem:
            config["pixel_normalization"] = normalization
        return layer.__class__.from_config(config)

    # clone_model wants the input in the structure the model was built with (a list when loaded from .keras).
    copy = keras.models.clone_model(model, input_tensors=keras.tree.map_structure(lambda _: inputs, model.input),
                                    clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy


def _input_stem(model):
    """The functional `model`'s `Stem` that reads its input and nothing else does, or None."""
    readers = [layer for layer in model.layers
               if any(node.input_tensors and node.input_tensors[0] is model.inputs[0]
                      for node in layer._inbound_nodes)]
    if len(readers) == 1 and isinstance(readers[0], Stem) and readers[0].pixel_normalization is None:
        return readers[0]
    return None


def _check_destination(path, what="The destination"):
    if not path.endswith(TFLITE_SUFFIX):
        raise ValueError(f"{what} must end in {TFLITE_SUFFIX}, got {path!r}.")
    check_output_paths((what, path))


def _static_size(model, input_shape):
    """The `(height, width)` to export at: `input_shape`, else the model's static input."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ValueError(
            f"Model {model.name!r} has {len(model.inputs)} inputs and {len(model.outputs)} "
            "outputs; export needs exactly one of each (build it with distillation_outputs=False)."
        )
    model_shape = tuple(model.inputs[0].shape)
    if len(model_shape) != 4:
        raise ValueError(f"Model {model.name!r} takes {model_shape}; export needs NHWC images.")
    model_size = model_shape[1:3]
    if input_shape is None:
        if None in model_size:
            raise ValueError(
                f"Model {model.name!r} takes images of any size {model_shape}; pass "
                "input_shape=(height, width) to fix the size of the exported model."
            )
        return int(model_size[0]), int(model_size[1])
    size = tuple(input_shape)
    if len(size) != 2 or not all(isinstance(v, (int, np.integer)) and v > 0 for v in size):
        raise ValueError(f"input_shape must be (height, width) positive ints, got {input_shape!r}.")
    for fixed, wanted in zip(model_size, size):
        if fixed is not None and fixed != wanted:
            raise ValueError(
                f"input_shape {input_shape!r} disagrees with model {model.name!r}'s fixed input "
                f"{model_shape}; drop input_shape or rebuild the model with input_shape=(None, None, 3)."
            )
    return int(size[0]), int(size[1])


def _saved_model_name(beside):
    """Where the SavedModel's partial folder goes: beside the output file, else in the temp folder."""
    if beside is not None:
        return os.fspath(beside) + ".savedmodel"
    return os.path.join(tempfile.gettempdir(), "swiftformer_savedmodel")


@contextlib.contextmanager
def _converter(model, height, width, channels, beside=None):
    """A `TFLiteConverter` over a SavedModel of `model` with a `(1, H, W, C)` input of the
    model's input dtype, as one signature (`SIGNATURE_KEY`) whose input is named `image`
    and whose output is named by `output_kind` (`probabilities`, `logits`, `features`).

    The SavedModel (tens of MB) lives in a `partial_folder` beside `beside`
    (the output file) if given, else in the temp folder; see the module docstring.
    """
    import tensorflow as tf

    dtype = tf.as_dtype(keras.backend.standardize_dtype(model.inputs[0].dtype))
    signature = [tf.TensorSpec((1, height, width, channels), dtype, name=SIGNATURE_INPUT)]
    output_name = output_kind(model)

    def serve(image):
        return {output_name: model(image, training=False)}

    with partial_folder(_saved_model_name(beside)) as saved_model:
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint(SIGNATURE_KEY, serve, input_signature=signature)
        archive.write_out(saved_model, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved_model)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        yield converter


def _run_converter(model, converter):
    try:
        return converter.convert()
    except Exception as error:  # the converter's ConverterError lives in a private module
        raise ValueError(_conversion_error_message(model, str(error))) from error


def convert(
    model, mode="fp32", input_shape=None, calibration=None, io="float32", recipe=None, min_runtime=None, beside=None,
    input_type="normalized", normalization=IMAGENET_PIXEL_NORMALIZATION,
):
    """Converts a Keras image classifier to `.tflite` bytes with builtin ops only.

    Args:
        model: a `keras.Model` with one NHWC float32 image input and one output.
        mode: `"fp32"`; `"fp16"` (float16 weights, float32 compute on CPU,
            the GPU delegate's native type); `"dynamic"` (int8 weights,
            activations quantized on the fly); `"int8"` (full integer, needs
            `calibration`).
        input_shape: `(height, width)`; defaults to the model's static size.
        calibration: for int8, float32 images `(N, H, W, C)` preprocessed
            exactly as at inference.
        io: for int8, the type of the model's input and output tensors:
            `"float32"` (quantized inside the model), `"int8"` or `"uint8"`.
        min_runtime: the oldest TFLite runtime the file must load and be fast
            on (`"2.14"`; TF numbering, `runtime_versions.SUPPORTED_MIN_RUNTIMES`);
            None is `recipe.DEFAULT_MIN_RUNTIME[mode]`. The bytes are refused
            if an op version needs a newer runtime.
        recipe: the `Recipe` (GELU and normalisation forms, ops kept in float,
            converter settings); None is `recipe_for(mode, min_runtime)`.
        beside: the file the result is for; the intermediate SavedModel is
            written beside it (same disk), else in the temp folder.
        input_type: what the file takes (`INPUT_TYPES`): `"normalized"`, the
            model's own input; `"float32"` or `"uint8"`, RGB pixels in
            [0, 255], normalised inside the file with `normalization`
            (`with_pixel_input`). `calibration` is then pixels too.

    Raises:
        ValueError: bad arguments, the graph needs ops outside the builtin set
            (no Flex/SELECT_TF_OPS), or a newer runtime than `min_runtime`.
        DiskFullError: no room for the intermediate SavedModel.
    """
    if mode not in MODES:
        raise ValueError(f"Unknown mode {mode!r}; use one of {MODES}.")
    if io not in IO_TYPES:
        raise ValueError(f"Unknown io type {io!r}; use one of {IO_TYPES}.")
    if io != "float32" and mode != "int8":
        raise ValueError(f"io={io!r} needs mode='int8'; {mode} models take and return float32.")
    if input_type not in INPUT_TYPES:
        raise ValueError(f"Unknown input type {input_type!r}; use one of {INPUT_TYPES}.")
    if input_type == "uint8" and io != "float32":
        raise ValueError(
            f"input_type='uint8' takes camera pixels as they are; io={io!r} would quantize a normalised "
            "input instead. Use one of them: input_type='uint8' with io='float32', or io alone."
        )
    min_runtime = check_runtime_choice(min_runtime or DEFAULT_MIN_RUNTIME[mode])
    recipe = check_recipe(recipe if recipe is not None else recipe_for(mode, min_runtime))
    if keras.backend.backend() != "tensorflow":
        raise ValueError(
            f"TFLite export needs the TensorFlow backend, this process runs {keras.backend.backend()!r}; "
            "set KERAS_BACKEND=tensorflow (the saved .keras or .weights.h5 file loads there unchanged)."
        )
    height, width = _static_size(model, input_shape)
    channels = model.inputs[0].shape[-1]
    if input_type != "normalized" and channels != len(normalization[0]):
        raise ValueError(
            f"Model {model.name!r} takes {channels}-channel images; input_type={input_type!r} normalises "
            f"{len(normalization[0])}-channel RGB pixels inside the file. Export it with input_type='normalized' "
            "(--input-type normalized): the caller then feeds the model's own input."
        )
    if mode == "int8":
        calibration = _check_calibration(calibration, (height, width, channels))
    model = with_final_norm_folded(recipe.prepare_model(model))
    if input_type != "normalized":
        model = with_pixel_input(model, input_type, normalization)
    if mode == "int8" and input_type == "uint8":
        calibration = np.clip(np.round(calibration), 0, 255).astype(np.uint8)
    with _converter(model, height, width, channels, beside) as converter:
        recipe.configure(converter, mode, calibration)
        content = _run_converter(model, converter)
        if mode == "int8":
            content = recipe.quantize(content, calibration, io)
    # The converter refuses non-builtin ops itself; this guards the contract if its defaults change.
    builtin = set(builtin_op_names().values())
    extra = sorted(name for name in tflite_ops(content) if name not in builtin)
    if extra:
        raise ValueError(f"The converted model {model.name!r} needs non-builtin ops {extra}; not written.")
    check_min_runtime(content, min_runtime)
    _check_runs(content)
    return content


def convert_op_graph(build, input_shapes, dtype="float32", value_range=(0.1, 4.0), seed=0):
    """`.tflite` bytes of a small TensorFlow graph (a probe of one op, not a model): `build(*inputs)`
    over float32 inputs of `input_shapes`, builtin ops only. `dtype="int8"` quantizes it fully,
    calibrated on 8 uniform draws from `value_range`, with int8 input and output tensors, so
    that no QUANTIZE or DEQUANTIZE op stands beside the ops under study."""
    import tensorflow as tf

    signature = [tf.TensorSpec(shape, tf.float32) for shape in input_shapes]
    function = tf.function(build, input_signature=signature)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function.get_concrete_function()], function)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if dtype == "int8":
        rng = np.random.default_rng(seed)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: (
            [rng.uniform(*value_range, shape).astype("float32") for shape in input_shapes] for _ in range(8))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = converter.inference_output_type = tf.int8
    elif dtype != "float32":
        raise ValueError(f"Unknown dtype {dtype!r}; use 'float32' or 'int8'.")
    return converter.convert()


def _check_calibration(calibration, image_shape):
    if calibration is None or len(calibration) == 0:
        raise ValueError(
            "int8 conversion needs calibration images (float32 (N, H, W, C), preprocessed as at "
            "inference): pass calibration=..., e.g. from swiftformer_keras.lite.calibration."
        )
    calibration = np.asarray(calibration, np.float32)
    if calibration.ndim != 4 or calibration.shape[1:] != image_shape:
        raise ValueError(
            f"Calibration images have shape {calibration.shape}; the model takes (N, "
            f"{', '.join(map(str, image_shape))})."
        )
    return calibration


def _check_runs(content):
    """Loads the converted bytes in the LiteRT interpreter and runs them once."""
    try:
        interpreter = make_interpreter(model_content=content, num_threads=1)
        detail = interpreter.get_input_details()[0]
        interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
        interpreter.invoke()
    except (RuntimeError, ValueError) as error:
        raise ValueError(f"The converted model does not run in the LiteRT interpreter: {error}") from error


def _conversion_error_message(model, text):
    # The converter buries the offending ops in MLIR diagnostics; its summary lines name them.
    ops = sorted({op.strip() for line in re.findall(r"(?:Flex|Custom|Select TF) ops: (.*)", text)
                  for op in line.split(",") if op.strip()})
    if ops:
        return (
            f"Model {model.name!r} needs TensorFlow ops outside the TFLite builtin set: "
            f"{', '.join(ops)}. They would need SELECT_TF_OPS (the Flex delegate), which phone "
            "runtimes lack, so the model was not exported; replace those ops in the model."
        )
    return (
        f"Model {model.name!r} could not be converted to TFLite with builtin ops only "
        f"(TFLITE_BUILTINS, no SELECT_TF_OPS). The converter said: {text.strip()[:2000]}"
    )


def tflite_ops(model):
    """Counts the ops of a `.tflite` model (a path or its bytes) by name (`runtime_versions.operators`):
    builtin ops as in the TFLite schema (`"CONV_2D"`), custom ops by their custom code (`"FlexErf"`)."""
    return collections.Counter(name for name, _ in operators(model))


def imagenet_labels():
    """The 1000 ImageNet-1k class names in class order (`tench`, `goldfish`, ...)."""
    index = imagenet_class_index()
    return tuple(index[i][1] for i in range(len(index)))


def model_info(model, input_type="normalized", labels="auto", normalization=IMAGENET_PIXEL_NORMALIZATION, **fields):
    """The `tflite_metadata.ModelInfo` of `model` exported with `input_type`.

    Args:
        labels: `"auto"` (the ImageNet class names for a 1000-class head,
            none for other heads and backbones), None, or the class names.
        normalization: `(mean, std)` in pixel units the model's own input is
            normalised with (ImageNet's); the metadata of a `"normalized"`
            file states it, a pixel-input file applies it itself.
        fields: `name`, `description`, `version`, `author`, `license`
            (defaults: the model's name, a one-line description).
    """
    if input_type not in INPUT_TYPES:
        raise ValueError(f"Unknown input type {input_type!r}; use one of {INPUT_TYPES}.")
    kind = output_kind(model)
    classes = int(model.outputs[0].shape[-1])
    if isinstance(labels, str) and labels == "auto":
        labels = imagenet_labels() if kind != "features" and classes == 1000 else None
    if labels is not None:
        # A single string is not a list of names; repeats were warned about where the names were given.
        labels = tflite_metadata.check_label_names(labels, warn_repeats=False)
    if labels is not None and kind == "features":
        raise ValueError(f"Model {model.name!r} has no classifier head (it returns features); it takes no labels.")
    if labels is not None and len(labels) != classes:
        raise ValueError(f"{len(labels)} labels for model {model.name!r} with {classes} classes; give one per class.")
    mean, std = {"normalized": normalization, "float32": ((0.0,), (1.0,)), "uint8": (None, None)}[input_type]
    channels = model.inputs[0].shape[-1]
    if mean is not None and len(mean) not in (1, channels):
        raise ValueError(
            f"Model {model.name!r} takes {channels}-channel images, and its metadata would state a "
            f"{len(mean)}-channel normalisation; write none (metadata=False, --no-metadata)."
        )
    fields.setdefault("name", model.name)
    fields.setdefault("description", f"{model.name}: image {'classifier' if kind != 'features' else 'features'}.")
    return tflite_metadata.ModelInfo(input_mean=mean, input_std=std, output_kind=kind, labels=labels, **fields)


def export_tflite(
    model, path, input_shape=None, mode="fp32", calibration=None, io="float32", recipe=None, min_runtime=None,
    input_type="normalized", metadata=True, labels="auto", info=None,
):
    """Converts a Keras model to a `.tflite` file with builtin ops only, with its metadata.

    Args:
        model: a `keras.Model` with one NHWC image input and one output
            (for SwiftFormer: `classifier_activation=None` exports logits).
        path: the destination, ending in `.tflite`, in an existing folder. It
            is written through a temporary file and a rename: a failed
            conversion leaves no file and keeps an older one intact.
        input_shape, mode, calibration, io, recipe, min_runtime, input_type,
            metadata, labels, info: see `tflite_content`.

    Returns:
        `path`. The exported input is `(1, height, width, channels)`.

    Raises:
        ValueError: the size is unknown, the destination is unusable, the
            labels do not fit the model, or the graph needs ops outside the
            TFLite builtin set.
        DiskFullError: the destination's disk is full (nothing is left behind).
    """
    path = os.fspath(path)
    _check_destination(path)
    content = tflite_content(
        model, input_shape=input_shape, mode=mode, calibration=calibration, io=io, recipe=recipe,
        min_runtime=min_runtime, input_type=input_type, metadata=metadata, labels=labels, info=info, beside=path,
    )
    write_bytes_atomically(path, content)
    return path


def tflite_content(
    model, input_shape=None, mode="fp32", calibration=None, io="float32", recipe=None, min_runtime=None,
    input_type="normalized", metadata=True, labels="auto", info=None, beside=None,
):
    """The bytes `export_tflite` writes: the converted model with its metadata.

    Args:
        mode, calibration, io, recipe, min_runtime, input_type, beside: see `convert`.
        metadata: write TFLite metadata (`tflite_metadata`: the input's
            normalisation, the output's kind and class names), which Android's
            Task Library and MediaPipe image classifiers need; False omits it.
        labels: the class names of the metadata (see `model_info`).
        info: a `tflite_metadata.ModelInfo` to write instead of `model_info`'s.
    """
    if metadata and info is None:
        info = model_info(model, input_type, labels)  # bad labels fail before the conversion
    content = convert(
        model, mode, input_shape=input_shape, calibration=calibration, io=io, recipe=recipe,
        min_runtime=min_runtime, beside=beside, input_type=input_type,
    )
    return tflite_metadata.with_metadata(content, info) if metadata else content
