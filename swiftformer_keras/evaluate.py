"""Top-1/top-5 accuracy and the confusion matrix of a classifier on an image folder.

    python -m swiftformer_keras.evaluate --data DIR --weights PATH|NAME [--split val|test]
        [--image-size N] [--batch-size N] [--variant XS|S|L1|L3] [--crop-pct F]
        [--confusion FILE.png] [--json FILE.json] [--runtime litert|tflite-runtime|tensorflow|litert-compiled]

PATH is a `.keras` model, a `.weights.h5` file (with --variant and
--image-size) or a `.tflite` file; NAME is published ImageNet weights
(`imagenet`, `imagenet_timm`, `imagenet_mbzuai`, with --variant), evaluated
at their own crop. All of them go through the same loop over the same
preprocessed batches, so their numbers are directly comparable.
The destinations are checked before the evaluation starts, and the numbers
are printed before the files are written, so a failed write still shows them.

Keras starts only once the arguments and destinations are checked, so `--help`
and bad input answer at once; where `import keras` fails (`.venv-tflite-runtime`
has Keras but no backend), evaluating ends in one line saying to use `.venv`.
"""

import json
import os
import sys

import numpy as np

from swiftformer_keras.lite.interpreter import RUNTIMES, check_runtime, runtime_version
from swiftformer_keras.lite.predictor import tflite_runner
from swiftformer_keras.models.architecture import MIN_INPUT_SIZE, VARIANTS, check_image_size
from swiftformer_keras.training import evaluation
from swiftformer_keras.training.image_folder import eval_split_name
from swiftformer_keras.utils import charts, cli
from swiftformer_keras.utils.files import check_output_paths, write_text_atomically
from swiftformer_keras.utils.tables import markdown_table
from swiftformer_keras.weights.published import WEIGHT_NAMES, crop_pct_for, weight_source

PROG = "python -m swiftformer_keras.evaluate"
WEIGHT_SUFFIXES = (".keras", ".weights.h5", ".tflite")


def check_weights_file(path, variant=None, image_size=None):
    """`path` as a string, refused unless it names an existing `.keras`, `.tflite`
    or `.weights.h5` file (the latter with the `variant` and `image_size` it needs),
    or published weights (`weights.published.WEIGHT_NAMES`, with the `variant`)."""
    path = os.fspath(path)
    if weight_source(path) is not None:
        if variant is None:
            raise ValueError(f"weights={path!r} names published weights: pass the variant (--variant XS, say).")
        return path
    if not path.endswith(WEIGHT_SUFFIXES):
        raise ValueError(
            f"Cannot evaluate {path!r}: unknown weights format; use a .keras, .weights.h5 or .tflite file, "
            f"or one of {', '.join(WEIGHT_NAMES)} with --variant."
        )
    if not os.path.isfile(path):
        raise ValueError(f"Weights file {path!r} does not exist.")
    if path.endswith(".weights.h5"):
        if variant is None:
            raise ValueError(
                f"{path!r} holds weights only: pass the variant it was saved from "
                "(variant='XS', or --variant XS on the command line)."
            )
        if image_size is None:
            raise ValueError(
                f"{path!r} does not record the image size the model was trained at: pass "
                "image_size (--image-size on the command line)."
            )
    return path


def _keras_file_predictor(path, num_classes, image_size, variant):
    # Keras loads only for a Keras file: a .tflite file is scored where Keras has no backend.
    cli.import_keras(f"{path!r} is a Keras model: evaluating it")
    from swiftformer_keras.applications import SwiftFormer
    from swiftformer_keras.weights.keras_files import load_keras_model_file

    if path.endswith(".keras"):
        return evaluation.keras_predictor(load_keras_model_file(path), path)
    height, width = check_image_size(image_size or 224)  # published weights: the size they were trained at
    model = SwiftFormer(
        variant,
        weights=path,
        classes=num_classes,
        classifier_activation=None,
        input_shape=(height, width, 3),
    )
    return evaluation.keras_predictor(model, path)


def load_predictor(weights, num_classes, image_size=None, variant=None, num_threads=2, runtime=None):
    """Makes the `training.evaluation.Predictor` of `weights`: a `keras.Model`, a path to a
    `.keras`, `.weights.h5` (needs `variant` and `image_size`) or `.tflite` file
    (run by the TFLite `runtime`, `interpreter.RUNTIMES`; None: the first installed),
    or a published name (needs `variant`)."""
    if not isinstance(weights, (str, os.PathLike)):
        keras = sys.modules.get("keras")  # a keras.Model exists only where Keras is loaded
        if keras is None or not isinstance(weights, keras.Model):
            raise ValueError(f"weights must be a keras.Model or a file path, got {type(weights).__name__}.")
        return evaluation.keras_predictor(weights, f"in-memory model {weights.name!r}")
    path = check_weights_file(weights, variant, image_size)
    if path.endswith(".tflite"):
        predict = tflite_runner(path, num_threads=num_threads, runtime=runtime)
        return evaluation.Predictor(predict, tuple(predict.image_size), predict.num_classes, path)
    return _keras_file_predictor(path, num_classes, image_size, variant)


def evaluate(
    data_dir,
    weights,
    split=None,
    image_size=None,
    batch_size=64,
    crop_pct=None,
    variant=None,
    num_threads=2,
    runtime=None,
):
    """Evaluates a classifier on `data_dir/<split>/<class>/<images>`.

    Args:
        data_dir: the data folder (`train/`, and `val/` or `test/`).
        weights: a `keras.Model`, the path to a `.keras` model, a
            `.weights.h5` file (with `variant`) or a `.tflite` file, or a
            published name such as `"imagenet"` (with `variant`).
        split: `"val"` or `"test"`; defaults to `val` when present.
        image_size: int or `(height, width)`; defaults to the model's input
            size (needed for models of dynamic size and `.weights.h5` files).
        batch_size: images per batch (a `.tflite` model still runs them one
            at a time).
        crop_pct: resize the shorter side to `size / crop_pct`, center-crop
            `size` (1.0 keeps the whole image). None: the crop the weights
            expect (published weights' own; the one a model file records:
            models trained by `swiftformer_keras.train` do), else ImageNet's
            0.875, as every tool does.
        variant: the SwiftFormer variant name or config dict of a `.weights.h5` file.
        num_threads: CPU threads of the TFLite interpreter.
        runtime: the TFLite runtime of a `.tflite` file (`interpreter.RUNTIMES`);
            None: the first installed.

    Raises:
        ValueError: a setting out of range, a missing or unreadable data
            folder or model, or a model that does not fit the data.
        ImportError: the model needs Keras and Keras has no backend here.

    Returns:
        A dict: `top1`, `top5` (fractions; top-5 is top-`k` with
        `k = min(5, classes)`, recorded as `top_k`), `count` (images
        evaluated), `classes` (names, in label order), `confusion` (int array,
        rows true classes, columns predicted), `skipped` (unreadable files),
        `source`, `split`, `image_size` and `crop_pct`.
    """
    # Checked before anything is loaded; named as on the command line.
    cli.check_number("batch_size (--batch-size)", batch_size, minimum=1, integer=True)
    if crop_pct is not None:
        cli.check_number("crop_pct (--crop-pct)", crop_pct, above=0, maximum=1)
    cli.check_number("num_threads (--num-threads)", num_threads, minimum=1, integer=True)
    check_runtime(runtime)
    if image_size is not None:
        check_image_size(image_size)
    path = None
    if isinstance(weights, (str, os.PathLike)):
        path = check_weights_file(weights, variant, image_size)
    data_dir = os.fspath(data_dir)
    if not os.path.isdir(data_dir):
        raise ValueError(f"Data folder {data_dir!r} does not exist.")
    split = split or eval_split_name(data_dir)
    classes = evaluation.class_names(data_dir, split)
    # The model before the images: opening every image of a large split takes a while.
    predictor = load_predictor(weights, len(classes), image_size, variant, num_threads, runtime)
    crop_pct = crop_pct_for(crop_pct, weights=path)
    return evaluation.score(predictor, data_dir, split, classes, image_size, batch_size, crop_pct=crop_pct)


def _check_output_path(path, suffix, what="the destination", inputs=()):
    """`path`, refused unless it ends in `suffix` and can be written without
    touching the `inputs` (`files.check_output_paths`)."""
    path = os.fspath(path)
    if not path.lower().endswith(suffix):
        raise ValueError(f"{what} {path!r} must end in {suffix}.")
    check_output_paths((what, path), inputs=inputs)
    return path


def plot_confusion(result, path):
    """Writes the confusion matrix of an `evaluate` result as a PNG (`charts.confusion_matrix`)."""
    title = (
        f"{os.path.basename(result['source'])} on {result['split']}: top-1 {result['top1']:.2%} "
        f"({result['count']} images)"
    )
    return charts.confusion_matrix(_check_output_path(path, ".png"), result["confusion"], result["classes"], title)


def write_json(result, path):
    """Writes an `evaluate` result as JSON (the confusion matrix as nested lists), atomically."""
    path = _check_output_path(path, ".json")
    data = {k: v for k, v in result.items() if k != "confusion"}
    data["image_size"] = list(result["image_size"])
    # One line per confusion-matrix row: readable for 3 classes, compact for 1000.
    rows = ",\n".join("    " + json.dumps(row) for row in np.asarray(result["confusion"]).tolist())
    text = json.dumps(data, indent=2)[:-2] + f',\n  "confusion": [\n{rows}\n  ]\n}}\n'

    write_text_atomically(path, text)
    return path


def summary_table(result):
    """The headline numbers of an `evaluate` result as a one-row Markdown table."""
    return markdown_table(
        ["weights", "split", "top-1", f"top-{result['top_k']}", "images", "skipped"],
        [
            [
                os.path.basename(result["source"]),
                result["split"],
                f"{result['top1']:.2%}",
                f"{result['top5']:.2%}",
                result["count"],
                result["skipped"],
            ]
        ],
        align="llrrrr",
    )


def default_confusion_path(weights):
    """`<weights stem>_confusion.png` in the current folder: the weights' own folder
    may be read-only, or a folder of inputs (a data folder, a release)."""
    name = os.path.basename(os.fspath(weights))
    for suffix in WEIGHT_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)] + "_confusion.png"
    return os.path.splitext(name)[0] + "_confusion.png"


def main(argv=None):
    """The command line; an expected failure ends in one line and exit code 2."""
    return cli.run(_main, argv, PROG)


def _main(argv):
    parser = cli.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="data folder with val/ or test/ (and train/)")
    parser.add_argument(
        "--weights", required=True, help=f"a .keras, .weights.h5 or .tflite file, or {', '.join(WEIGHT_NAMES)}"
    )
    parser.add_argument("--split", choices=("val", "test"), help="default: val if present, else test")
    parser.add_argument(
        "--image-size", type=cli.number(int, minimum=MIN_INPUT_SIZE), help="default: the model's input size"
    )
    parser.add_argument("--batch-size", type=cli.number(int, minimum=1), default=64)
    parser.add_argument(
        "--crop-pct",
        type=cli.number(float, above=0, maximum=1),
        default=None,
        help="resize to size/crop_pct, center-crop (default: the crop the weights expect, else 0.875)",
    )
    parser.add_argument(
        "--variant", type=str.upper, choices=sorted(VARIANTS), help="for .weights.h5 files and published weights"
    )
    parser.add_argument("--num-threads", type=cli.number(int, minimum=1), default=2, help="TFLite interpreter threads")
    parser.add_argument(
        "--confusion", help="PNG to write (default: <weights stem>_confusion.png in the current folder)"
    )
    parser.add_argument("--json", help="also write the result as JSON")
    parser.add_argument(
        "--runtime",
        choices=RUNTIMES,
        help="TFLite interpreter of a .tflite file (default: the first installed); "
        "litert-compiled: LiteRT's CompiledModel API",
    )
    args = parser.parse_args(argv)
    if args.runtime:  # one that is not installed is refused before the long run
        runtime_version(args.runtime)
    check_weights_file(args.weights, args.variant, args.image_size)

    # Destinations are checked before the long run, not after it; none may be an input.
    inputs = [("--data", args.data)] + ([] if weight_source(args.weights) else [("--weights", args.weights)])
    confusion = args.confusion or default_confusion_path(args.weights)
    _check_output_path(
        confusion,
        ".png",
        "--confusion" if args.confusion else "the confusion matrix (default of --confusion)",
        inputs,
    )
    if args.json:
        _check_output_path(args.json, ".json", "--json", inputs)
    result = evaluate(
        args.data,
        args.weights,
        split=args.split,
        image_size=args.image_size,
        batch_size=args.batch_size,
        crop_pct=args.crop_pct,
        variant=args.variant,
        num_threads=args.num_threads,
        runtime=args.runtime,
    )
    # The numbers first: if a write below fails (a full disk), they are still on screen.
    print(summary_table(result))
    plot_confusion(result, confusion)
    if args.json:
        write_json(result, args.json)
    print(f"\nConfusion matrix: {confusion}" + (f"; JSON: {args.json}" if args.json else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
