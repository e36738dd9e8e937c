"""SwiftFormer to TFLite in one call: model, calibration, conversion, checks, report.

    report = convert_swiftformer("s_int8.tflite", mode="int8", variant="S",
                                 weights="imagenet", calib_dir="photos/", eval_dir="holdout/")

`conversion/to_tflite.py` is the command line over `convert`, which takes one
checked `ConversionRequest`; `convert_swiftformer` builds it from keywords. The
file, its card and its report are one result (`files.ResultFiles`): written under
temporary names, measured there (builtin ops only, run in the LiteRT interpreter,
the fidelity against the Keras model, the latency), and renamed into place
together after the last check; a failure or Ctrl-C leaves an older result intact.
"""

import json
import os
import sys

import numpy as np
from tqdm import tqdm

from swiftformer_keras.applications import SwiftFormer
from swiftformer_keras.lite import calibration as calib_lib  # `calibration` names the calibration images here
from swiftformer_keras.lite import card, converter, metadata, rewrites
from swiftformer_keras.lite import report as tflite_report  # `report` names the conversion's report here
from swiftformer_keras.lite.interpreter import cpu_name, make_interpreter, runtime_version, time_interleaved
from swiftformer_keras.lite.predictor import tflite_runner
from swiftformer_keras.lite.request import DEFAULT_VARIANT, ConversionRequest
from swiftformer_keras.lite.runtime_versions import min_runtime as file_min_runtime
from swiftformer_keras.models.architecture import VARIANTS, all_layers, check_image_size
from swiftformer_keras.models.layers import EfficientAdditiveAttention
from swiftformer_keras.models.random_init import randomize_weights
from swiftformer_keras.utils.files import ResultFiles
from swiftformer_keras.utils.images import pixels_from_input, recorded_class_names
from swiftformer_keras.weights import published
from swiftformer_keras.weights.keras_files import load_keras_model_file, model_attention, saved_classes

OWN_WEIGHTS_LICENSE = "Code: Apache-2.0 (swiftformer-keras). Weights: those of the model's owner."
RANDOM_WEIGHTS_LICENSE = "Code: Apache-2.0 (swiftformer-keras). Weights: seeded random draws, not trained ones."


def load_keras_model(variant=DEFAULT_VARIANT, keras_model=None, weights="imagenet", input_size=None):
    """The Keras model to convert, with logits as output (a backbone: its features).

    Args:
        variant: `"XS"`, `"S"`, `"L1"` or `"L3"`, in any case (ignored with `keras_model`).
        keras_model: a `.keras` file holding a SwiftFormer, instead of a variant;
            a softmax at its end is removed, so that it returns logits too.
        weights: a published name (`"imagenet"`: `weights.published`), a weights path (see `SwiftFormer`), or
            `"random"`: seeded weights with a trained model's logit spread
            (`swiftformer_keras.models.random_init`), for latency and fidelity checks.
        input_size: `(height, width)`, multiples of 32; defaults to the
            model's own size, else 224x224.

    Returns:
        `(model, (height, width))`.
    """
    size = None if input_size is None else check_image_size(tuple(input_size))
    if keras_model is not None:
        path = os.fspath(keras_model)
        model = load_keras_model_file(path)
        if not any(isinstance(layer, EfficientAdditiveAttention) for layer in all_layers(model)):
            raise ValueError(
                f"{path!r} is a Keras model but not a SwiftFormer (it has no EfficientAdditiveAttention "
                "layer); this tool converts SwiftFormer models only."
            )
        if rewrites.output_kind(model) == "probabilities":
            model = rewrites.with_classifier_activation(model, None)
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
    model = SwiftFormer(variant, weights=weights, classes=classes, classifier_activation=None, input_shape=(*size, 3))
    return model, size


def _calibration(request, size):
    """The int8 calibration images and what the report says of them; `(None, None)` for other modes."""
    if request.mode != "int8":
        return None, None
    if request.calib_dir is not None:
        images, info = calib_lib.sample_images(
            request.calib_dir,
            request.num_calib,
            size,
            request.crop_pct,
            seed=request.seed,
            progress="calibration images",
        )
        info.pop("paths")  # the report counts the images; it does not list a machine's files
        return images, {"source": request.calib_dir, **info}
    images = calib_lib.random_images(request.num_calib, size, request.seed)
    return images, {"source": "random (latency only)", "used": request.num_calib}


def load_eval_set(eval_dir, num_eval, size, crop_pct, num_classes, seed=0, class_names=None):
    """Up to `num_eval` images of `eval_dir` drawn at random (fixed `seed`), preprocessed.

    Returns:
        `(images, labels, unreadable)`: `labels` are class indices when
        `eval_dir` has one folder per class (`calibration.class_labels`: by the
        model's `class_names`, else numbered), else None; `unreadable` names the
        images that could not be read (`{path: reason}`).
    """
    paths, _ = calib_lib.find_images(eval_dir)
    order = np.random.default_rng(seed + 1).permutation(len(paths))[:num_eval]
    images, kept, unreadable = calib_lib.load_images(
        [paths[i] for i in sorted(order)], size, crop_pct, progress="evaluation images"
    )
    if not kept:
        raise ValueError(
            f"None of the {len(unreadable)} images tried in {os.fspath(eval_dir)!r} could be read "
            f"(first: {next(iter(unreadable.items()), ('', ''))[0]}); point --eval-dir at real photos."
        )
    return images, calib_lib.class_labels(kept, eval_dir, class_names, num_classes), unreadable


def _evaluate(model, path, request, size, class_names):
    """The file at `path` against `model` on the held-out photos of `request.eval_dir`."""
    images, labels, unreadable = load_eval_set(
        request.eval_dir,
        request.num_eval,
        size,
        request.crop_pct,
        model.outputs[0].shape[-1],
        request.seed,
        class_names,
    )
    reference = model.predict(images, batch_size=32, verbose=0)
    predict = tflite_runner(path)
    outputs = np.concatenate(
        [predict(images[i : i + 1]) for i in tqdm(range(len(images)), desc="TFLite inference", unit="image")]
    )
    fidelity = tflite_report.fidelity(reference, outputs, labels)
    return {"eval_dir": request.eval_dir, "unreadable": unreadable, **fidelity}


def resolve_labels(request, num_classes):
    """The class names a file's metadata gets, and where they came from.

    In order: the request's labels (a file or names); the names a model trained
    by the project records (its `.keras` file, or its `.weights.h5` given as
    `weights`); ImageNet's for a 1000-class head. Otherwise none.

    Returns:
        `(names or None, source)`; `source` is a short text for the report.

    Raises:
        ValueError: the given or recorded names are not one per class.
    """
    if request.label_names is not None:
        if len(request.label_names) != num_classes:
            given = (
                f"Labels file {request.labels_source!r} has"
                if request.labels_source != "the names given"
                else "The labels given have"
            )
            raise ValueError(
                f"{given} {len(request.label_names)} names; the model has {num_classes} classes: give one name "
                "per class, in class order."
            )
        return list(request.label_names), request.labels_source
    for path in (request.keras_model, request.weights):
        if path is not None and os.path.isfile(path):
            names = recorded_class_names(path)
            if names is not None:
                if len(names) != num_classes:
                    raise ValueError(
                        f"{path!r} records {len(names)} class names for {num_classes} classes; pass --labels FILE."
                    )
                return names, f"class names recorded in {os.path.basename(path)}"
    names = metadata.default_labels(num_classes)
    if names is not None:
        return list(names), "ImageNet-1k class names (a 1000-class head)"
    return None, f"none: a {num_classes}-class head with no recorded class names (pass --labels FILE)"


def measure_latency(path, runs, threads=2):
    """Median host latency of the file (ms) in the default runtime's XNNPACK, `runs` timed invokes."""
    interpreter = make_interpreter(model_path=path, num_threads=threads)
    detail = interpreter.get_input_details()[0]
    interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
    times = time_interleaved({"file": interpreter.invoke}, runs, warmup=5, block=1, untimed=0, progress="latency runs")[
        "file"
    ]
    name, version = runtime_version()
    return {
        "runtime": f"{name} {version}",
        "threads": threads,
        "runs": runs,
        "median_ms": float(np.median(times)),
        "cpu": cpu_name(),
    }


def convert_swiftformer(output, **options):
    """Converts a SwiftFormer to `output` (`.tflite`) and returns the report (a dict).

    `options` are the fields of `ConversionRequest` (mode, variant or
    keras_model, weights, calib_dir, eval_dir, labels, ...), all checked before
    the model loads. The file is a drop-in for Android's image clients (Task
    Library, MediaPipe Tasks); its model card (`<name>.md`) and JSON report
    (`<name>.json`) are written beside it, all three or none (see `convert`).
    """
    return convert(ConversionRequest(output, **options))


def convert(request):
    """Carries out a `ConversionRequest`; returns the report (a dict).

    The model is loaded, calibrated and converted; the file is written under a
    temporary name and checked there (it loads, runs, and with `eval_dir` and
    `latency_runs` is measured); its report and card are read off the file
    itself. Only then do the file, its report and its card replace any older
    ones, together. A second run writing the same files meanwhile is refused.
    """
    with ResultFiles(request.outputs()) as result:
        report = _convert_into(result, request)
    if not request.card:
        _remove_stale_companions(request)
    return report


def _convert_into(result, request):
    """Loads, converts, checks and measures into `result` (`request`'s files under temporary names);
    returns the report."""
    logits_model, size = load_keras_model(request.variant, request.keras_model, request.weights, request.input_size)
    classifier = rewrites.output_kind(logits_model) != "features"
    activation = request.classifier_activation if classifier else None
    model = rewrites.with_classifier_activation(logits_model, activation) if classifier else logits_model
    class_names, labels_source = (
        resolve_labels(request, int(model.outputs[0].shape[-1]))
        if classifier
        else (None, "none: a backbone returns features")
    )
    calibration, calib_info = _calibration(request, size)
    info = _model_info(request, model, size, class_names) if request.metadata else None
    file_calibration = (
        calibration if calibration is None or request.input_type == "normalized" else pixels_from_input(calibration)
    )
    content = converter.tflite_content(model, request.spec, size, file_calibration, info, beside=request.output)
    written = result.path(request.output)
    result.write_bytes(request.output, content)
    report = _report(request, written, logits_model, size, activation, class_names, labels_source, calib_info)
    if request.eval_dir is not None:
        report["fidelity"] = _evaluate(model, written, request, size, class_names)
    if request.latency_runs:
        report["latency"] = measure_latency(written, request.latency_runs)
    if request.debug:
        report["debug_layers"] = _debug_layers(request, logits_model, size, calibration)
    if request.report_path is not None:
        report["report_file"] = request.report_path
        result.write_json(request.report_path, report)
    if request.card_path is not None:
        report["card_file"] = request.card_path
        result.write_text(request.card_path, card.model_card(report))
    return report


def _report(request, path, logits_model, size, activation, class_names, labels_source, calib_info):
    """What the file at `path` (the temporary of `request.output`) is and holds, read off the file."""
    needs = file_min_runtime(path)
    report = {
        "model": os.path.basename(request.keras_model) if request.keras_model else f"SwiftFormer-{request.variant}",
        "weights": None if request.keras_model else request.weights,
        "attention": model_attention(logits_model),
        "mode": request.mode,
        "io": request.io,
        "classifier_activation": activation or "none",
        "input_size": list(size),
        "crop_pct": request.crop_pct,
        **({"calibration": calib_info} if calib_info else {}),
        "min_runtime_asked": request.min_runtime,
        "min_runtime_needed": needs["version"],
        "min_runtime_set_by": [
            f"{need['op']} v{need['version']}" for need in needs["needs"] if need["runtime"] == needs["version"]
        ],
        **tflite_report.inspect_tflite(path),
        "file": request.output,
        "recipe": request.recipe.as_dict(),
        "activation": request.recipe.activation_text,
        "labels": {
            "source": labels_source,
            "count": len(class_names) if class_names else 0,
            "first": class_names[0] if class_names else None,
            "last": class_names[-1] if class_names else None,
        },
        **({"command": request.command} if request.command else {}),
    }
    if request.mode == "int8":
        report["float_ops_kept"] = list(request.recipe.float_ops)
    return report


def _debug_layers(request, logits_model, size, calibration):
    debug_images = calibration
    if request.eval_dir is not None:
        paths, _ = calib_lib.find_images(request.eval_dir)
        debug_images, _, _ = calib_lib.load_images(paths[:32], size, request.crop_pct)
    return converter.quantization_debug(
        logits_model, size, calibration, debug_images[:32], request.recipe, beside=request.output
    )


def _remove_stale_companions(request):
    """Removes the card and report an earlier conversion left beside `request.output` (`<name>.md`,
    `<name>.json`), which describe the file this run replaced; files that describe another file,
    and this run's own outputs, are kept."""
    stem = os.path.splitext(request.output)[0]
    companions = {os.path.abspath(stem + ".json"), os.path.abspath(stem + ".md")}
    companions -= {os.path.abspath(path) for path in request.outputs().values()}
    if os.path.abspath(stem + ".json") not in companions:
        return
    try:
        with open(stem + ".json", encoding="utf-8") as file:
            earlier = json.load(file)
    except (OSError, ValueError):
        return
    if not isinstance(earlier, dict) or os.path.basename(str(earlier.get("file"))) != os.path.basename(request.output):
        return
    for path in sorted(companions):
        if os.path.exists(path):
            os.remove(path)
            print(f"removed {path}: it described the file this run replaced", file=sys.stderr)


def _model_info(request, model, size, class_names):
    """The file's metadata (`converter.model_metadata`), named after the model's source, which the
    description and the license follow: a `.keras` file or a variant's weights."""
    if request.keras_model is not None:
        path = os.path.abspath(request.keras_model)
        name = os.path.splitext(os.path.basename(path))[0]
        if name == "model":  # train's output folder names the run: run/model.keras -> "run"
            name = os.path.basename(os.path.dirname(path)) or name
        source = f"the Keras model {os.path.basename(path)}"
        license = OWN_WEIGHTS_LICENSE
    else:
        name = f"SwiftFormer-{request.variant}"
        published_source = published.weight_source(request.weights)
        if published_source is not None:
            repo = published_source.files[request.variant].repo
            source = f"ImageNet-1k weights: {published_source.title} ({repo} on the Hugging Face Hub)"
            license = f"Code: Apache-2.0 (swiftformer-keras). Weights: {published_source.license} ({repo})."
        elif request.weights == "random":
            source, license = "random weights", RANDOM_WEIGHTS_LICENSE
        else:
            source, license = f"weights {os.path.basename(request.weights)}", OWN_WEIGHTS_LICENSE
    license = request.license or license
    return converter.model_metadata(
        model,
        request.spec,
        size,
        class_names,
        name=name,
        source=source,
        crop_pct=request.crop_pct,
        author=request.author or "",
        license=license,
    )
