"""SwiftFormer to TFLite in one call: model, calibration, conversion, checks, report.

    report = convert_swiftformer("s_int8.tflite", mode="int8", variant="S",
                                 weights="imagenet", calib_dir="photos/", eval_dir="holdout/")

`conversion/to_tflite.py` is the command line over `convert_swiftformer`. The
file is written only after it has converted with builtin ops only and run in
the LiteRT interpreter; the report then measures it against the Keras model.
"""

import importlib.metadata
import os

import numpy as np

from swiftformer_keras import calibration as calib_lib
from swiftformer_keras import layers as sf_layers
from swiftformer_keras import export, model_card, tflite_metadata, tflite_report
from swiftformer_keras.cli import check_number
from swiftformer_keras.data import check_image_size
from swiftformer_keras.files import check_output_paths, write_json_atomically, write_text_atomically
from swiftformer_keras.imagenet_utils import pixels_from_input, recorded_class_names, resolve_crop_pct
from swiftformer_keras.interpreter import cpu_name, make_interpreter, runtime_version, time_interleaved
from swiftformer_keras.recipe import DEFAULT_MIN_RUNTIME, MODES, recipe_for
from swiftformer_keras.runtime_versions import check_runtime_choice, min_runtime as file_min_runtime
from swiftformer_keras.model import VARIANTS, SwiftFormer, all_layers
from swiftformer_keras.testing import randomize_weights
from swiftformer_keras.weights import load_keras_model_file, model_attention, saved_classes

DEFAULT_VARIANT = "S"
DEFAULT_NUM_CALIB = 200
DEFAULT_NUM_EVAL = 200
try:
    __version__ = importlib.metadata.version("swiftformer-keras")
except importlib.metadata.PackageNotFoundError:  # run from a source tree that was not installed
    __version__ = "unknown"
AUTHOR = "swiftformer-keras (Keras 3 port of SwiftFormer, Shaker et al., ICCV 2023)"
IMAGENET_WEIGHTS_LICENSE = (
    "Code: Apache-2.0 (swiftformer-keras). Weights: the license of their source, "
    "Amshaker/SwiftFormer (MBZUAI/swiftformer-* on the Hugging Face Hub)."
)
OWN_WEIGHTS_LICENSE = "Code: Apache-2.0 (swiftformer-keras). Weights: those of the model's owner."


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


def resolve_labels(labels, keras_model, weights, num_classes):
    """The class names a file's metadata gets, and where they came from.

    In order: the `labels` file (one UTF-8 name per line); the names a model
    trained by the project records (its `.keras` file, or its `.weights.h5`
    given as `weights`); ImageNet's for a 1000-class head. Otherwise none.

    Returns:
        `(names or None, source)`; `source` is a short text for the report.
    """
    if labels is not None:
        return tflite_metadata.read_labels_file(os.fspath(labels), num_classes), os.fspath(labels)
    for path in (keras_model, weights):
        if isinstance(path, (str, os.PathLike)) and os.path.isfile(path):
            names = recorded_class_names(path)
            if names is not None:
                if len(names) != num_classes:
                    raise ValueError(
                        f"{os.fspath(path)!r} records {len(names)} class names for {num_classes} classes; "
                        "pass --labels FILE."
                    )
                return names, f"class names recorded in {os.fspath(path)}"
    if num_classes == 1000:
        return list(export.imagenet_labels()), "ImageNet-1k class names (a 1000-class head)"
    return None, f"none: a {num_classes}-class head with no recorded class names (pass --labels FILE)"


def measure_latency(path, runs, threads=2):
    """Median host latency of the file (ms) in the default runtime's XNNPACK, `runs` timed invokes."""
    interpreter = make_interpreter(model_path=path, num_threads=threads)
    detail = interpreter.get_input_details()[0]
    interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
    times = time_interleaved({"file": interpreter.invoke}, runs, warmup=5, block=1, untimed=0)["file"]
    name, version = runtime_version()
    return {"runtime": f"{name} {version}", "threads": threads, "runs": runs,
            "median_ms": float(np.median(times)), "cpu": cpu_name()}


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
    prepared = export.with_final_norm_folded(recipe.prepare_model(model))
    with export._converter(prepared, *size, prepared.inputs[0].shape[-1], beside) as converter:
        calibrated = recipe.configure(converter, "int8", calibration).convert()
    debugger = tf.lite.experimental.QuantizationDebugger(
        quant_debug_model_content=recipe.debug_model(calibrated, calibration),
        debug_dataset=lambda: ([image[None]] for image in debug_images),
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
    classifier_activation="softmax",
    input_type="float32",
    labels=None,
    metadata=True,
    card=True,
    latency_runs=0,
    license=None,
    author=AUTHOR,
    command=None,
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
    `crop_pct` None is the crop the `keras_model` file records (a model
    trained by the project), else ImageNet's 0.875: the same default as every tool.

    The file is a drop-in for Android's image clients (Task Library, MediaPipe
    Tasks): `classifier_activation` `"softmax"` (probabilities, the default)
    or None (logits); `input_type` `"float32"` (RGB pixels in [0, 255], the
    default), `"uint8"` (camera bytes) or `"normalized"` (the Keras model's
    own input, ImageNet mean/std applied by the caller); `metadata` (the
    normalisation, the output's kind, the class names: `labels` file, else
    those `resolve_labels` finds). `card` writes the model card beside the
    file (`<name>.md`) and the JSON report (`report_path`, by default
    `<name>.json`). `latency_runs` > 0 measures host latency into the report;
    `command` is the command line the card quotes.

    Every argument and the destinations are checked before the model is
    loaded, so a bad one fails in a second, not after the conversion.
    """
    output = os.fspath(output)
    report_path = None if report_path is None else os.fspath(report_path)
    export._check_destination(output, "--output")
    stem = os.path.splitext(output)[0]
    if card and report_path is None:
        report_path = stem + ".json"
    card_path = stem + ".md" if card else None
    check_output_paths(("--output", output), ("--report", report_path), ("the model card", card_path))
    check_number("num_calib", num_calib, minimum=1, integer=True)
    check_number("num_eval", num_eval, minimum=1, integer=True)
    check_number("latency_runs", latency_runs, minimum=0, integer=True)
    if crop_pct is not None:
        check_number("crop_pct", crop_pct, above=0, maximum=1)
    crop_pct = resolve_crop_pct(crop_pct, keras_model)
    if input_size is not None:
        check_image_size(tuple(input_size))
    variant = variant.upper() if isinstance(variant, str) else variant
    if mode not in MODES:
        raise ValueError(f"Unknown mode {mode!r}; use one of {MODES}.")
    if classifier_activation not in export.CLASSIFIER_ACTIVATIONS:
        raise ValueError(f"Unknown classifier activation {classifier_activation!r}; use 'softmax' or None (logits).")
    if input_type not in export.INPUT_TYPES:
        raise ValueError(f"Unknown input type {input_type!r}; use one of {export.INPUT_TYPES}.")
    if input_type == "uint8" and io != "float32":
        raise ValueError(
            f"--input-type uint8 takes camera pixels as they are and --io {io} quantizes a normalised input; "
            "use one of them (--input-type uint8 keeps float32 scores out)."
        )
    if labels is not None:
        tflite_metadata.read_labels_file(os.fspath(labels))  # unreadable or not UTF-8: fail now
    min_runtime = check_runtime_choice(min_runtime or DEFAULT_MIN_RUNTIME[mode])
    recipe = export.check_recipe(recipe if recipe is not None else recipe_for(mode, min_runtime))
    if debug and mode != "int8":
        raise ValueError("--debug reports int8 quantization error; use it with --int8.")
    if eval_dir is not None:
        calib_lib.find_images(eval_dir)  # fail on a bad folder before the slow conversion
    logits_model, size = load_keras_model(variant, keras_model, weights, input_size)
    model = export.with_classifier_activation(logits_model, classifier_activation)
    class_names, labels_source = resolve_labels(labels, keras_model, weights, int(model.outputs[0].shape[-1]))
    calibration, calib_info = _calibration(mode, size, calib_dir, num_calib, calib_random, crop_pct, seed)
    info = export.model_info(
        model, input_type, class_names, **_model_fields(keras_model, variant, weights, mode, input_type,
                                                        crop_pct, size, license, author),
    )
    export.export_tflite(
        model, output, input_shape=size, mode=mode, io=io, recipe=recipe, min_runtime=min_runtime,
        calibration=None if calibration is None else (
            calibration if input_type == "normalized" else pixels_from_input(calibration)),
        input_type=input_type, metadata=metadata, info=info,
    )
    needs = file_min_runtime(output)
    report = {
        "model": os.fspath(keras_model) if keras_model else f"SwiftFormer-{variant}",
        "weights": None if keras_model else (os.fspath(weights) if weights else "random"),
        "attention": model_attention(logits_model),
        "mode": mode,
        "io": io,
        "input_type": input_type,
        "classifier_activation": classifier_activation or "none",
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
        "labels": {"source": labels_source, "count": len(class_names) if class_names else 0,
                   "first": class_names[0] if class_names else None,
                   "last": class_names[-1] if class_names else None},
        **({"command": command} if command else {}),
    }
    if mode == "int8":
        report["float_ops_kept"] = list(recipe.float_ops)
    if eval_dir is not None:
        report["fidelity"] = _evaluate(model, output, eval_dir, num_eval, size, crop_pct, seed)
    if latency_runs:
        report["latency"] = measure_latency(output, latency_runs)
    if debug:
        debug_images = calibration
        if eval_dir is not None:
            paths, _ = calib_lib.find_images(eval_dir)
            debug_images, _, _ = calib_lib.load_images(paths[:32], size, crop_pct)
        report["debug_layers"] = quantization_debug(
            logits_model, size, calibration, debug_images[:32], recipe, beside=output
        )
    if report_path is not None:
        report["report_file"] = report_path
    if card_path is not None:
        report["card_file"] = card_path
    if report_path is not None:
        write_json_atomically(report_path, report)
    if card_path is not None:
        write_text_atomically(card_path, model_card.model_card(report))
    return report


def _model_fields(keras_model, variant, weights, mode, input_type, crop_pct, size, license, author):
    """The name, description, version, author and license fields of the file's metadata."""
    if keras_model is not None:
        path = os.path.abspath(os.fspath(keras_model))
        name = os.path.splitext(os.path.basename(path))[0]
        if name == "model":  # train's output folder names the run: run/model.keras -> "run"
            name = os.path.basename(os.path.dirname(path)) or name
        source = f"the Keras model {os.path.basename(path)}"
    else:
        name = f"SwiftFormer-{variant}"
        source = {"imagenet": "ImageNet-1k weights (Amshaker/SwiftFormer)", "random": "random weights"}.get(
            weights if isinstance(weights, str) else None, f"weights {os.path.basename(os.fspath(weights))}")
    takes = {
        "float32": "RGB pixels in [0, 255] as float32",
        "uint8": "RGB pixels in [0, 255] as uint8",
        "normalized": "RGB images normalised with ImageNet's mean and std",
    }[input_type]
    description = (
        f"{name} image classifier ({source}), {mode} TFLite with builtin ops only. Takes {takes}, "
        f"{size[0]}x{size[1]}, center-cropped at {crop_pct:g}. Converted by swiftformer-keras {__version__}."
    )
    own = keras_model is not None or not (isinstance(weights, str) and weights in ("imagenet", "random"))
    return {"name": name, "description": description, "version": __version__, "author": author or "",
            "license": license or (OWN_WEIGHTS_LICENSE if own else IMAGENET_WEIGHTS_LICENSE)}
