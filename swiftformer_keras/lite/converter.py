"""The Keras -> TensorFlow Lite (LiteRT) converter: a model's `.tflite` bytes, checked, with metadata.

    export_tflite(model, "swiftformer_xs.tflite")                    # fp32, input (1, H, W, 3), builtin ops only
    content = convert(model, FileSpec("int8"), calibration=images)   # the bytes alone

What the file is asked to be (mode, input and output types, oldest runtime,
recipe) is one `recipe.FileSpec`, checked and resolved before any work; the
graph rewrites a model goes through first are `rewrites`; what its metadata
says is `metadata.model_info`. The runner of the files is
`predictor.tflite_runner` (no Keras).

The conversion goes through a SavedModel written by `keras.export.ExportArchive`
and `tf.lite.TFLiteConverter.from_saved_model`, the route Keras 3 itself takes
for `model.export(format="litert")`; unlike that call, only the builtin op set
is allowed (a phone runtime without the Flex delegate must run the file), and
the file is written atomically. The SavedModel is a `files.partial_folder`
beside the destination (or in the temp folder when there is none): a run
killed mid-way leaves a recognisable `.<name>.partial-<pid>-<token>` folder
that the next run removes, and a full disk ends in one `DiskFullError`.

TensorFlow (seconds to import) is imported by the functions that convert
only: `tflite_ops` needs none, and under another Keras backend `convert`
says what to set instead of failing in an import.
"""

import collections
import contextlib
import csv
import os
import re
import tempfile
from io import StringIO  # `io` is a parameter of export_tflite

import keras
import numpy as np

from swiftformer_keras.lite import metadata as tflite_metadata  # `metadata` is a parameter of export_tflite
from swiftformer_keras.lite.interpreter import make_interpreter
from swiftformer_keras.lite.metadata import FP16_ARITHMETIC, IMAGENET_PIXEL_NORMALIZATION, REDUCED_PRECISION_NAME
from swiftformer_keras.lite.recipe import FileSpec, recipe_for
from swiftformer_keras.lite.rewrites import IMAGE_INPUT, output_kind, with_final_norm_folded, with_pixel_input
from swiftformer_keras.lite.runtime_versions import builtin_op_names, check_min_runtime, operators
from swiftformer_keras.utils.files import check_output_paths, partial_folder, write_bytes_atomically

TFLITE_SUFFIX = ".tflite"
SIGNATURE_KEY = "serving_default"


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
    for fixed, wanted in zip(model_size, size, strict=True):
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
def _saved_model_converter(model, height, width, channels, beside=None):
    """A `TFLiteConverter` over a SavedModel of `model` with a `(1, H, W, C)` input of the
    model's input dtype, as one signature (`SIGNATURE_KEY`) whose input is named `image`
    (`rewrites.IMAGE_INPUT`) and whose output is named by `rewrites.output_kind`
    (`probabilities`, `logits`, `features`).

    The SavedModel (tens of MB) lives in a `partial_folder` beside `beside`
    (the output file) if given, else in the temp folder; see the module docstring.
    """
    import tensorflow as tf  # see the module docstring

    dtype = tf.as_dtype(keras.backend.standardize_dtype(model.inputs[0].dtype))
    signature = [tf.TensorSpec((1, height, width, channels), dtype, name=IMAGE_INPUT)]
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


def _prepared(model, recipe):
    """`model` as `recipe` formulates its layers, its head's norm folded: what is converted."""
    return with_final_norm_folded(recipe.prepare_model(model))


def convert(
    model, spec=None, input_shape=None, calibration=None, beside=None, normalization=IMAGENET_PIXEL_NORMALIZATION
):
    """Converts a Keras image classifier to `.tflite` bytes with builtin ops only (no metadata).

    Args:
        model: a `keras.Model` with one NHWC float32 image input and one output.
        spec: the `recipe.FileSpec` of the file (None: `FileSpec()`, fp32 taking
            the model's own input): its mode (`"fp16"`: float16 weights, float32
            compute on CPU, the GPU delegate's native type; `"dynamic"`: int8
            weights, activations quantized on the fly; `"int8"`: full integer,
            needs `calibration`), io types, input type, oldest runtime and recipe,
            all resolved already.
        input_shape: `(height, width)`; defaults to the model's static size.
        calibration: for int8, float32 images `(N, H, W, C)` preprocessed
            exactly as the file's input: the model's own input, or with a pixel
            `spec.input_type` pixels in [0, 255].
        beside: the file the result is for; the intermediate SavedModel is
            written beside it (same disk), else in the temp folder.
        normalization: `(mean, std)` in pixel units that a pixel-input file
            applies inside (`rewrites.with_pixel_input`).

    Raises:
        ValueError: bad arguments, the graph needs ops outside the builtin set
            (no Flex/SELECT_TF_OPS), or a newer runtime than `spec.min_runtime`.
        DiskFullError: no room for the intermediate SavedModel.
    """
    spec = FileSpec() if spec is None else spec
    if not isinstance(spec, FileSpec):
        raise ValueError(f"spec must be a recipe.FileSpec, e.g. FileSpec(mode='int8'), got {spec!r}.")
    if keras.backend.backend() != "tensorflow":
        raise ValueError(
            f"TFLite export needs the TensorFlow backend, this process runs {keras.backend.backend()!r}; "
            "set KERAS_BACKEND=tensorflow (the saved .keras or .weights.h5 file loads there unchanged)."
        )
    height, width = _static_size(model, input_shape)
    channels = model.inputs[0].shape[-1]
    if spec.input_type != "normalized" and channels != len(normalization[0]):
        raise ValueError(
            f"Model {model.name!r} takes {channels}-channel images; input_type={spec.input_type!r} normalises "
            f"{len(normalization[0])}-channel RGB pixels inside the file. Export it with input_type='normalized' "
            "(--input-type normalized): the caller then feeds the model's own input."
        )
    if spec.mode == "int8":
        calibration = _check_calibration(calibration, (height, width, channels))
    model = _prepared(model, spec.recipe)
    if spec.input_type != "normalized":
        model = with_pixel_input(model, spec.input_type, normalization)
    if spec.mode == "int8" and spec.input_type == "uint8":
        calibration = np.clip(np.round(calibration), 0, 255).astype(np.uint8)
    with _saved_model_converter(model, height, width, channels, beside) as converter:
        spec.recipe.configure(converter, spec.mode, calibration)
        content = _run_converter(model, converter)
        if spec.mode == "int8":
            content = spec.recipe.quantize(content, calibration, spec.io)
    if spec.mode == "fp16" and spec.recipe.fp16_arithmetic:
        content = tflite_metadata.with_entry(content, REDUCED_PRECISION_NAME, FP16_ARITHMETIC)
    # The converter refuses non-builtin ops itself; this guards the contract if its defaults change.
    builtin = set(builtin_op_names().values())
    extra = sorted(name for name in tflite_ops(content) if name not in builtin)
    if extra:
        raise ValueError(f"The converted model {model.name!r} needs non-builtin ops {extra}; not written.")
    check_min_runtime(content, spec.min_runtime)
    _check_runs(content)
    return content


def quantization_debug(model, size, calibration, debug_images, recipe=None, beside=None):
    """Per-layer int8 error from TFLite's quantization debugger, worst first.

    The model is prepared, calibrated and quantized by `recipe` (None:
    `recipe_for("int8")`) exactly as `convert` makes an int8 file that takes
    the model's own input; `calibration` and `debug_images` are such inputs,
    at `size` `(height, width)`. `beside` (the output file) is where the
    intermediate SavedModel goes, as in `convert`.

    Each row: the op, its output tensor, `rmse/scale` (the error in int8
    steps: about 0.29 is pure rounding, much more means the layer's range is
    badly calibrated), the mean and max abs error, and the scale.
    """
    import tensorflow as tf  # the converter's own debugger; see the module docstring

    recipe = recipe or recipe_for("int8")
    prepared = _prepared(model, recipe)
    with _saved_model_converter(prepared, *size, prepared.inputs[0].shape[-1], beside) as converter:
        calibrated = recipe.configure(converter, "int8", calibration).convert()
    debugger = tf.lite.experimental.QuantizationDebugger(
        quant_debug_model_content=recipe.debug_model(calibrated, calibration),
        debug_dataset=lambda: ([image[None]] for image in debug_images),
    )
    debugger.run()
    text = StringIO()
    debugger.layer_statistics_dump(text)
    rows = []
    for row in csv.DictReader(StringIO(text.getvalue())):
        scale = float(row["scale"])
        rows.append(
            {
                "op_name": row["op_name"],
                "tensor_name": row["tensor_name"],
                "scale": scale,
                "mean_error": float(row["mean_error"]),
                "max_abs_error": float(row["max_abs_error"]),
                "rmse/scale": float(np.sqrt(float(row["mean_squared_error"])) / scale) if scale else float("nan"),
            }
        )
    return sorted(rows, key=lambda r: -np.nan_to_num(r["rmse/scale"], nan=-1.0))


def convert_op_graph(build, input_shapes, dtype="float32", value_range=(0.1, 4.0), seed=0):
    """`.tflite` bytes of a small TensorFlow graph (a probe of one op, not a model): `build(*inputs)`
    over float32 inputs of `input_shapes`, builtin ops only. `dtype="int8"` quantizes it fully,
    calibrated on 8 uniform draws from `value_range`, with int8 input and output tensors, so
    that no QUANTIZE or DEQUANTIZE op stands beside the ops under study."""
    import tensorflow as tf  # see the module docstring

    signature = [tf.TensorSpec(shape, tf.float32) for shape in input_shapes]
    function = tf.function(build, input_signature=signature)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function.get_concrete_function()], function)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if dtype == "int8":
        rng = np.random.default_rng(seed)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: (
            [rng.uniform(*value_range, shape).astype("float32") for shape in input_shapes] for _ in range(8)
        )
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
    ops = sorted(
        {
            op.strip()
            for line in re.findall(r"(?:Flex|Custom|Select TF) ops: (.*)", text)
            for op in line.split(",")
            if op.strip()
        }
    )
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
    model,
    path,
    input_shape=None,
    mode="fp32",
    calibration=None,
    io="float32",
    recipe=None,
    min_runtime=None,
    input_type="normalized",
    metadata=True,
    labels="auto",
    info=None,
):
    """Converts a Keras model to a `.tflite` file with builtin ops only, with its metadata.

    Args:
        model: a `keras.Model` with one NHWC image input and one output
            (for SwiftFormer: `classifier_activation=None` exports logits).
        path: the destination, ending in `.tflite`, in an existing folder. It
            is written through a temporary file and a rename: a failed
            conversion leaves no file and keeps an older one intact.
        input_shape: `(height, width)`; defaults to the model's static size.
        mode, io, input_type, min_runtime, recipe: the fields of the file's
            `recipe.FileSpec` (`mode` `"fp32"`, `"fp16"`, `"dynamic"` or `"int8"`).
        calibration: for int8, images as the file's input takes them (see `convert`).
        metadata: write TFLite metadata (the input's normalisation, the
            output's kind and class names), which Android's Task Library and
            MediaPipe image classifiers need; False omits it.
        labels: the class names of the metadata: `"auto"` (ImageNet's for a
            1000-class head), None, or one name per class (`metadata.model_info`).
        info: a `metadata.ModelInfo` to write instead of `model_metadata`'s.

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
    spec = FileSpec(mode, io, input_type, min_runtime, recipe)
    size = _static_size(model, input_shape)
    if metadata and info is None:  # bad labels fail before the conversion
        info = model_metadata(model, spec, size, labels)
    content = tflite_content(model, spec, size, calibration, info if metadata else None, beside=path)
    write_bytes_atomically(path, content)
    return path


def model_metadata(model, spec, size, labels="auto", name=None, **fields):
    """`metadata.model_info` for `model` converted to a `spec` file taking `size` images: the
    facts read off the Keras model (its name unless `name` is given, what it returns, its
    classes and channels) and `spec`'s mode and input type.

    Args:
        labels: `"auto"`, None or the class names (see `metadata.model_info`).
        fields: `source`, `crop_pct`, `author`, `license` (see `metadata.model_info`).
    """
    return tflite_metadata.model_info(
        name or model.name,
        output_kind(model),
        int(model.outputs[0].shape[-1]),
        spec.mode,
        spec.input_type,
        size,
        channels=model.inputs[0].shape[-1],
        labels=labels,
        **fields,
    )


def tflite_content(model, spec=None, input_shape=None, calibration=None, info=None, beside=None):
    """The bytes `export_tflite` writes: `convert`'s (see it for the arguments), with `info`
    (a `metadata.ModelInfo`) as their TFLite metadata; None writes none."""
    content = convert(model, spec, input_shape=input_shape, calibration=calibration, beside=beside)
    return content if info is None else tflite_metadata.with_metadata(content, info)
