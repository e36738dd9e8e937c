"""SwiftFormer to TFLite in one call: model, calibration, conversion, checks, report.

    report = convert_swiftformer("s_int8.tflite", mode="int8", variant="S",
                                 weights="imagenet", calib_dir="photos/", eval_dir="holdout/")

`conversion/to_tflite.py` is the command line over `convert_swiftformer`. The
file is written only after it has converted with builtin ops only and run in
the LiteRT interpreter; the report then measures it against the Keras model.
"""

import os

import numpy as np

from swiftformer_keras import calibration as calib_lib
from swiftformer_keras import layers as sf_layers
from swiftformer_keras import export, tflite_report
from swiftformer_keras.cli import check_number
from swiftformer_keras.data import check_image_size
from swiftformer_keras.files import check_output_paths, write_json_atomically
from swiftformer_keras.imagenet_utils import resolve_crop_pct
from swiftformer_keras.recipe import DEFAULT_MIN_RUNTIME, MODES, recipe_for
from swiftformer_keras.runtime_versions import check_runtime_choice, min_runtime as file_min_runtime
from swiftformer_keras.model import VARIANTS, SwiftFormer, all_layers
from swiftformer_keras.testing import randomize_weights
from swiftformer_keras.weights import load_keras_model_file, saved_classes

DEFAULT_VARIANT = "S"
DEFAULT_NUM_CALIB = 200
DEFAULT_NUM_EVAL = 200


def load_keras_model(variant=DEFAULT_VARIANT, keras_model=None, weights="imagenet", input_size=None):
    """The Keras model to convert, with logits as output.

    Args:
        variant: `"XS"`, `"S"`, `"L1"` or `"L3"`, in any case (ignored with `keras_model`).
        keras_model: a `.keras` file holding a SwiftFormer, instead of a variant.
        weights: `"imagenet"`, a weights path (see `SwiftFormer`), or
            `"random"`: seeded weights with a trained model's logit spread
            (`swiftformer_keras.testing`), for latency and fidelity checks.
        input_size: `(height, width)`, multiples of 32; defaults to the
            model's own size, else 224x224.

    Returns:
        `(model, (height, width))`.
    """

    size = None if input_size is None else check_image_size(tuple(input_size))
    if keras_model is not None:

        path = os.fspath(keras_model)
        model = load_keras_model_file(path)
        if not any(isinstance(layer, sf_layers.EfficientAdditiveAttention) for layer in all_layers(model)):
            raise ValueError(
                f"{path!r} is a Keras model but not a SwiftFormer (it has no EfficientAdditiveAttention "
                "layer); this tool converts SwiftFormer models only."
            )
        model_size = tuple(model.inputs[0].shape[1:3])
        if size is None:
            size = model_size if None not in model_size else (224, 224)
        return model, size
    variant = variant.upper() if isinstance(variant, str) else variant
    if variant not in VARIANTS:
        raise ValueError(f"Unknown model {variant!r}; use one of {tuple(VARIANTS)} or --keras-model FILE.")
    size = size or (224, 224)
    classes = 1000
    if weights == "random":

        model = SwiftFormer(variant, classifier_activation=None, input_shape=(*size, 3))
        return randomize_weights(model), size
    if isinstance(weights, (str, os.PathLike)) and os.fspath(weights).endswith(".weights.h5"):

        if not os.path.isfile(weights):
            raise ValueError(f"Weights file {os.fspath(weights)!r} does not exist.")
        classes = saved_classes(weights) or classes
    model = SwiftFormer(
        variant, weights=weights, classes=classes, classifier_activation=None, input_shape=(*size, 3)
    )
    return model, size


def _calibration(mode, size, calib_dir, num_calib, calib_random, crop_pct, seed):
    if mode != "int8":
        return None, None
    if calib_dir is not None:
        images, info = calib_lib.sample_images(
            calib_dir, num_calib, size, crop_pct, seed=seed, progress="calibration images"
        )
        return images, {"source": os.fspath(calib_dir), **info}
    if calib_random:
        return calib_lib.random_images(num_calib, size, seed), {"source": "random (latency only)", "used": num_calib}
    raise ValueError(
        "int8 needs calibration images: pass --calib-dir DIR (real photos like those the model will "
        "see; a few hundred is enough). Calibrating on random data silently ruins int8 accuracy; "
        "--calib-random does it anyway, for latency measurements only."
    )


def _eval_labels(eval_dir, kept, num_classes):
    """Labels when `eval_dir` is laid out as one folder per class (sorted names = class
    indices, as `swiftformer_keras.train` numbers them) and the count matches the model."""
    classes = sorted(
        e.name for e in os.scandir(eval_dir) if e.is_dir() and not e.name.startswith(".")
    )
    if len(classes) != num_classes:
        return None
    index = {name: i for i, name in enumerate(classes)}
    labels = [index.get(os.path.relpath(p, eval_dir).split(os.sep)[0]) for p in kept]
    return None if None in labels else np.asarray(labels)


def load_eval_set(eval_dir, num_eval, size, crop_pct, num_classes, seed=0):
    """Up to `num_eval` images of `eval_dir` drawn at random (fixed `seed`), preprocessed.

    Returns:
        `(images, labels, unreadable)`: `labels` are class indices when
        `eval_dir` has one folder per class of a `num_classes` model, else None.
    """
    paths, _ = calib_lib.find_images(eval_dir)
    order = np.random.default_rng(seed + 1).permutation(len(paths))[:num_eval]
    images, kept, unreadable = calib_lib.load_images(
        [paths[i] for i in sorted(order)], size, crop_pct, progress="evaluation images"
    )
    if not kept:
        raise ValueError(f"None of the images in {os.fspath(eval_dir)!r} could be read.")
    return images, _eval_labels(eval_dir, kept, num_classes), unreadable


def _evaluate(model, path, eval_dir, num_eval, size, crop_pct, seed):
    from tqdm import tqdm

    images, labels, unreadable = load_eval_set(eval_dir, num_eval, size, crop_pct, model.outputs[0].shape[-1], seed)
    reference = model.predict(images, batch_size=32, verbose=0)
    predict = export.tflite_runner(path)
    outputs = np.concatenate([
        predict(images[i : i + 1]) for i in tqdm(range(len(images)), desc="TFLite inference", unit="image")
    ])
    return {"eval_dir": os.fspath(eval_dir), "unreadable": unreadable, **tflite_report.fidelity(reference, outputs, labels)}


def quantization_debug(model, size, calibration, debug_images, recipe=None, beside=None):
    """Per-layer int8 error from TFLite's quantization debugger, worst first.

    The model is prepared, calibrated and quantized by `recipe` exactly as
    `export.convert` makes the shipped file. `beside` (the output file) is
    where the intermediate SavedModel goes, as in `export.convert`.

    Each row: the op, its output tensor, `rmse/scale` (the error in int8
    steps: about 0.29 is pure rounding, much more means the layer's range is
    badly calibrated), the mean and max abs error, and the scale.
    """
    import tensorflow as tf

    recipe = recipe or recipe_for("int8")
    prepared = recipe.prepare_model(model)
    with export._converter(prepared, *size, prepared.inputs[0].shape[-1], beside) as converter:
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=recipe.configure(converter, "int8", calibration),
            debug_dataset=lambda: ([image[None]] for image in debug_images),
            debug_options=recipe.debug_options(),
        )
        debugger.run()
    import csv
    import io

    text = io.StringIO()
    debugger.layer_statistics_dump(text)
    rows = []
    for row in csv.DictReader(io.StringIO(text.getvalue())):
        scale = float(row["scale"])
        rows.append({
            "op_name": row["op_name"],
            "tensor_name": row["tensor_name"],
            "scale": scale,
            "mean_error": float(row["mean_error"]),
            "max_abs_error": float(row["max_abs_error"]),
            "rmse/scale": float(np.sqrt(float(row["mean_squared_error"])) / scale) if scale else float("nan"),
        })
    return sorted(rows, key=lambda r: -np.nan_to_num(r["rmse/scale"], nan=-1.0))


def convert_swiftformer(
    output,
    mode="fp32",
    variant=DEFAULT_VARIANT,
    keras_model=None,
    weights="imagenet",
    input_size=None,
    io="float32",
    calib_dir=None,
    num_calib=DEFAULT_NUM_CALIB,
    calib_random=False,
    eval_dir=None,
    num_eval=DEFAULT_NUM_EVAL,
    crop_pct=None,
    debug=False,
    report_path=None,
    seed=0,
    recipe=None,
    min_runtime=None,
):
    """Converts a SwiftFormer to `output` (`.tflite`) and returns the report (a dict).

    `mode` is `"fp32"`, `"fp16"`, `"dynamic"` or `"int8"`; `io` the int8
    model's input/output type. int8 needs `calib_dir` (or `calib_random`).
    With `eval_dir`, the report measures the file against the Keras model on
    up to `num_eval` of its images (with per-class folders also top-1).
    `debug` adds TFLite's per-layer quantization error (int8 only).
    `min_runtime` is the oldest TFLite runtime the file must load and be fast
    on (None: `recipe.DEFAULT_MIN_RUNTIME[mode]`); it picks the `recipe`
    (`recipe.recipe_for`) unless one is given, and a file that needs a newer
    runtime is refused. `--debug` measures the same recipe.
    `report_path` writes the report as JSON. `crop_pct` None is the crop the
    `keras_model` file records (a model trained by the project), else
    ImageNet's 0.875: the same default as every tool.

    Every argument and both destinations are checked before the model is
    loaded, so a bad one fails in a second, not after the conversion.
    """
    output = os.fspath(output)
    export._check_destination(output, "--output")
    check_output_paths(("--output", output), ("--report", report_path))
    check_number("num_calib", num_calib, minimum=1, integer=True)
    check_number("num_eval", num_eval, minimum=1, integer=True)
    if crop_pct is not None:
        check_number("crop_pct", crop_pct, above=0, maximum=1)
    crop_pct = resolve_crop_pct(crop_pct, keras_model)
    if input_size is not None:
        check_image_size(tuple(input_size))
    variant = variant.upper() if isinstance(variant, str) else variant
    if mode not in MODES:
        raise ValueError(f"Unknown mode {mode!r}; use one of {MODES}.")
    min_runtime = check_runtime_choice(min_runtime or DEFAULT_MIN_RUNTIME[mode])
    recipe = export.check_recipe(recipe if recipe is not None else recipe_for(mode, min_runtime))
    if debug and mode != "int8":
        raise ValueError("--debug reports int8 quantization error; use it with --int8.")
    if eval_dir is not None:
        calib_lib.find_images(eval_dir)  # fail on a bad folder before the slow conversion
    model, size = load_keras_model(variant, keras_model, weights, input_size)
    calibration, calib_info = _calibration(mode, size, calib_dir, num_calib, calib_random, crop_pct, seed)
    export.export_tflite(
        model, output, input_shape=size, mode=mode, calibration=calibration, io=io, recipe=recipe,
        min_runtime=min_runtime,
    )
    needs = file_min_runtime(output)
    report = {
        "model": os.fspath(keras_model) if keras_model else f"SwiftFormer-{variant}",
        "weights": None if keras_model else (os.fspath(weights) if weights else "random"),
        "mode": mode,
        "io": io,
        "input_size": list(size),
        "crop_pct": crop_pct,
        **({"calibration": calib_info} if calib_info else {}),
        "min_runtime_asked": min_runtime,
        "min_runtime_needed": needs["version"],
        "min_runtime_set_by": [f"{need['op']} v{need['version']}" for need in needs["needs"]
                               if need["runtime"] == needs["version"]],
        **tflite_report.inspect_tflite(output),
        "recipe": recipe.as_dict(),
        "activation": recipe.activation_text,
    }
    if mode == "int8":
        report["float_ops_kept"] = list(recipe.float_ops)
    if eval_dir is not None:
        report["fidelity"] = _evaluate(model, output, eval_dir, num_eval, size, crop_pct, seed)
    if debug:
        debug_images = calibration
        if eval_dir is not None:
            paths, _ = calib_lib.find_images(eval_dir)
            debug_images, _, _ = calib_lib.load_images(paths[:32], size, crop_pct)
        report["debug_layers"] = quantization_debug(
            model, size, calibration, debug_images[:32], recipe, beside=output
        )
    if report_path is not None:
        write_json_atomically(report_path, report)
    return report

