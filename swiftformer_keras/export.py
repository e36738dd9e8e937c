"""TensorFlow Lite (LiteRT) export of SwiftFormer models, and a runner for `.tflite` files.

    export_tflite(model, "swiftformer_xs.tflite")      # fp32, input (1, H, W, 3), builtin ops only
    predict = tflite_runner("swiftformer_xs.tflite")   # predict(images_nhwc) -> logits

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
import functools
import os
import re
import tempfile

import keras
import numpy as np

from swiftformer_keras.files import check_output_paths, partial_folder, write_bytes_atomically
from swiftformer_keras.interpreter import check_runtime, make_interpreter
from swiftformer_keras.recipe import DEFAULT_MIN_RUNTIME, IO_TYPES, MODES, Recipe, recipe_for
from swiftformer_keras.runtime_versions import (
    builtin_op_names, check_min_runtime, check_runtime_choice, operators,
)

TFLITE_SUFFIX = ".tflite"


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
    """A `TFLiteConverter` over a SavedModel of `model` with a `(1, H, W, C)` float32 input.

    The SavedModel (tens of MB) lives in a `partial_folder` beside `beside`
    (the output file) if given, else in the temp folder; see the module docstring.
    """
    import tensorflow as tf

    signature = [tf.TensorSpec((1, height, width, channels), tf.float32, name="pixels")]
    with partial_folder(_saved_model_name(beside)) as saved_model:
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint(
            "serve", functools.partial(model.__call__, training=False), input_signature=signature
        )
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
    model, mode="fp32", input_shape=None, calibration=None, io="float32", recipe=None, min_runtime=None, beside=None
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
    min_runtime = check_runtime_choice(min_runtime or DEFAULT_MIN_RUNTIME[mode])
    recipe = check_recipe(recipe if recipe is not None else recipe_for(mode, min_runtime))
    if keras.backend.backend() != "tensorflow":
        raise ValueError(
            f"TFLite export needs the TensorFlow backend, this process runs {keras.backend.backend()!r}; "
            "set KERAS_BACKEND=tensorflow (the saved .keras or .weights.h5 file loads there unchanged)."
        )
    height, width = _static_size(model, input_shape)
    channels = model.inputs[0].shape[-1]
    if mode == "int8":
        calibration = _check_calibration(calibration, (height, width, channels))
    model = recipe.prepare_model(model)
    with _converter(model, height, width, channels, beside) as converter:
        recipe.configure(converter, mode, calibration)
        content = _run_converter(model, converter)
        if mode == "int8":
            content = recipe.quantize(content, io)
    # The converter refuses non-builtin ops itself; this guards the contract if its defaults change.
    builtin = set(builtin_op_names().values())
    extra = sorted(name for name in tflite_ops(content) if name not in builtin)
    if extra:
        raise ValueError(f"The converted model {model.name!r} needs non-builtin ops {extra}; not written.")
    check_min_runtime(content, min_runtime)
    _check_runs(content)
    return content


def _check_calibration(calibration, image_shape):
    if calibration is None or len(calibration) == 0:
        raise ValueError(
            "int8 conversion needs calibration images (float32 (N, H, W, C), preprocessed as at "
            "inference): pass calibration=..., e.g. from swiftformer_keras.calibration."
        )
    calibration = np.asarray(calibration, np.float32)
    if calibration.ndim != 4 or calibration.shape[1:] != image_shape:
        raise ValueError(
            f"Calibration images have shape {calibration.shape}; the model takes (N, "
            f"{', '.join(map(str, image_shape))})."
        )
    return calibration


def check_recipe(recipe):
    """`recipe` if it is a `Recipe` whose float ops are all TFLite builtin op names."""
    if not isinstance(recipe, Recipe):
        raise ValueError(f"recipe must be a recipe.Recipe, got {type(recipe).__name__}.")
    unknown = sorted(set(recipe.float_ops) - set(builtin_op_names().values()))
    if unknown:
        raise ValueError(f"Unknown TFLite op types {unknown} to keep in float; use schema names such as 'RSQRT'.")
    return recipe


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


def export_tflite(
    model, path, input_shape=None, mode="fp32", calibration=None, io="float32", recipe=None, min_runtime=None
):
    """Converts a Keras model to a `.tflite` file with builtin ops only.

    Args:
        model: a `keras.Model` with one NHWC float32 image input and one output
            (for SwiftFormer: `classifier_activation=None` exports logits).
        path: the destination, ending in `.tflite`, in an existing folder. It
            is written through a temporary file and a rename: a failed
            conversion leaves no file and keeps an older one intact.
        input_shape: `(height, width)` to export a model built with a dynamic
            size; defaults to the model's static input size.
        mode, calibration, io, recipe, min_runtime: see `convert`.

    Returns:
        `path`. The exported input is `(1, height, width, channels)`.

    Raises:
        ValueError: the size is unknown, the destination is unusable, or the
            graph needs ops outside the TFLite builtin set.
        DiskFullError: the destination's disk is full (nothing is left behind).
    """
    path = os.fspath(path)
    _check_destination(path)
    content = convert(
        model, mode, input_shape=input_shape, calibration=calibration, io=io, recipe=recipe,
        min_runtime=min_runtime, beside=path,
    )
    write_bytes_atomically(path, content)
    return path


def _quantize(values, detail):
    """float32 -> the input tensor's dtype, through its scale and zero point if integer."""
    dtype = detail["dtype"]
    if not np.issubdtype(dtype, np.integer):
        return values.astype(dtype)
    scale, zero_point = detail["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(values / scale + zero_point), info.min, info.max).astype(dtype)


def _dequantize(values, detail):
    if not np.issubdtype(values.dtype, np.integer):
        return values.astype(np.float32)
    scale, zero_point = detail["quantization"]
    return ((values.astype(np.float32) - zero_point) * scale).astype(np.float32)


class TFLitePredictor:
    """Runs a `.tflite` image classifier on NHWC float32 batches, one image at a time.

    Attributes:
        image_size: `(height, width)` of the model's input.
        num_classes: the length of its output vector.
    """

    def __init__(self, path, num_threads=2, runtime=None):
        path = os.fspath(path)
        check_runtime(runtime)  # an unknown name is not a file problem
        if not os.path.isfile(path):
            raise ValueError(f"TFLite model {path!r} does not exist.")
        try:
            self.interpreter = make_interpreter(model_path=path, num_threads=num_threads, allocate=False, runtime=runtime)
        except (ValueError, RuntimeError) as error:
            raise ValueError(f"{path!r} is not a loadable .tflite model ({error}).") from error
        inputs, outputs = self.interpreter.get_input_details(), self.interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1 or len(inputs[0]["shape"]) != 4:
            raise ValueError(
                f"{path!r} has {len(inputs)} inputs and {len(outputs)} outputs; expected one NHWC "
                "image input and one output."
            )
        shape = tuple(int(v) for v in inputs[0]["shape"])
        if shape[0] != 1:  # a file exported with another batch size: run it image by image too
            self.interpreter.resize_tensor_input(inputs[0]["index"], (1, *shape[1:]))
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self.path = path
        self.image_shape = shape[1:]
        self.image_size = shape[1:3]
        self.num_classes = int(self.output["shape"][-1])

    def __call__(self, images):
        images = np.asarray(images, np.float32)
        if images.ndim != 4 or images.shape[1:] != self.image_shape:
            raise ValueError(
                f"{self.path!r} takes images of shape (batch, {', '.join(map(str, self.image_shape))}), "
                f"got {images.shape}; resize them or export the model at that size."
            )
        rows = []
        for image in images:
            self.interpreter.set_tensor(self.input["index"], _quantize(image[None], self.input))
            self.interpreter.invoke()
            rows.append(_dequantize(self.interpreter.get_tensor(self.output["index"]), self.output))
        if not rows:
            return np.zeros((0, *self.output["shape"][1:]), np.float32)
        return np.concatenate(rows)


def tflite_runner(path, num_threads=2, runtime=None):
    """Loads a `.tflite` model with the TFLite interpreter of `runtime`
    (`interpreter.RUNTIMES`; None: the first installed, LiteRT's first).

    Returns:
        `predict(images)`: float32 NHWC batch -> float32 outputs `(batch, ...)`.
        Integer (int8/uint8) input and output tensors are quantized and
        dequantized with their scale and zero point, so float and quantized
        files are called the same way. `predict.image_size` is the input's
        `(height, width)`, `predict.num_classes` the output length.
    """
    return TFLitePredictor(path, num_threads=num_threads, runtime=runtime)
