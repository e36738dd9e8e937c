"""How our files fare in Android's own image clients, against the Keras model: one table.

    python android_bench/clients.py --keras-model run/model.keras --files cifar_fp32.tflite cifar_int8.tflite \\
        --images data/test --num 1000

Each file runs in the TFLite Task Library (`.venv-tflite-runtime`) and in
MediaPipe Tasks (`.venv-mediapipe`), both made by `make test`, on the same
images, resized and center-cropped as every tool does; the Keras model (with
the softmax the files have) scores the same crops. Per file and client: the
top-1 agreement with Keras, the largest probability difference, and with one
folder per class the top-1 of both. Class folders are matched to the model's
class names (those a trained .keras records, else those of the first file's
metadata, else ImageNet's for --model); folders of which only some are class
names are refused. A client that refuses a file gets its message in the table.
`--csv FILE` also writes the rows for machines.

Every flag and path is checked before TensorFlow starts; an expected failure is
one line `android_bench/clients.py: error: ...` and exit code 2.
"""

import argparse
import os
import sys

import numpy as np

from swiftformer_keras.lite import calibration as calib_lib
from swiftformer_keras.lite.android_clients import CLIENTS, center_crops, classify_in_client, client_python
from swiftformer_keras.lite.metadata import read_metadata
from swiftformer_keras.models.architecture import VARIANTS
from swiftformer_keras.utils import cli
from swiftformer_keras.utils.files import check_output_paths, write_csv_atomically
from swiftformer_keras.utils.images import (
    imagenet_class_index,
    preprocess_input,
    recorded_class_names,
)
from swiftformer_keras.utils.tables import markdown_table
from swiftformer_keras.weights.published import WEIGHT_NAMES, crop_pct_for

PROG = "android_bench/clients.py"
COLUMNS = ("file", "client", "version", "images", "top1_agreement", "max_prob_diff", "keras_top1", "file_top1", "error")
NAMED_WEIGHTS = (*WEIGHT_NAMES, "random")


def _sample(folder, count):
    """Up to `count` images of `folder`, evenly spread over its sorted list."""
    paths, _ = calib_lib.find_images(folder)
    return [paths[i] for i in np.linspace(0, len(paths) - 1, min(count, len(paths))).round().astype(int)]


def _class_names(args):
    """The model's class names, in class order, or None: those a trained --keras-model records,
    else those the first file's metadata carries, else ImageNet's for a --model variant."""
    if args.keras_model:
        names = recorded_class_names(args.keras_model)
        if names:
            return names
    try:
        labels = ((read_metadata(args.files[0]) or {}).get("output") or {}).get("labels")
    except ValueError:  # not a file the clients can read: its row in the table says so
        labels = None
    if labels:
        return list(labels)
    if args.model:
        index = imagenet_class_index()  # as metadata.imagenet_labels, without starting TensorFlow
        return [index[i][1] for i in range(len(index))]
    return None


def compare_clients(model, files, paths, size, crop_pct, labels=None, clients=CLIENTS):
    """The table's rows: each file in each client against `model` (a Keras classifier with softmax)."""
    crops = center_crops(paths, size, crop_pct)
    reference = model.predict(preprocess_input(np.stack(crops)), batch_size=64, verbose=0)
    rows = []
    for file in files:
        for client in clients:
            answer = classify_in_client(client, file, paths, size, crop_pct, reference.shape[1])
            row = {
                "file": os.path.basename(file),
                "client": client,
                "version": answer.get("version"),
                "images": len(paths),
                "error": answer.get("error"),
            }
            if "results" in answer:
                scores = np.array([result["scores"] for result in answer["results"]])
                row["top1_agreement"] = float(np.mean(scores.argmax(1) == reference.argmax(1)))
                row["max_prob_diff"] = float(np.abs(scores - reference).max())
                if labels is not None:
                    row["keras_top1"] = float(np.mean(reference.argmax(1) == labels))
                    row["file_top1"] = float(np.mean(scores.argmax(1) == labels))
            rows.append(row)
    return rows


def markdown(rows):
    """The table people read: a row per (file, client); a client that refused the file says why."""
    cells = []
    for row in rows:
        if row.get("error"):
            cells.append([row["file"], row["client"], row["images"], f"refused: {row['error']}", "", "", ""])
            continue
        top1 = [f"{100 * row[key]:.2f}%" if key in row else "-" for key in ("keras_top1", "file_top1")]
        cells.append(
            [
                row["file"],
                f"{row['client']} {row['version']}",
                row["images"],
                f"{100 * row['top1_agreement']:.2f}%",
                f"{row['max_prob_diff']:.2e}",
                *top1,
            ]
        )
    header = ["file", "client", "images", "top-1 agreement with Keras", "max prob diff", "top-1 Keras", "top-1 file"]
    return markdown_table(header, cells, align="llrrrrr")


def main(argv=None):
    return cli.run(_main, argv, prog=PROG)


def _parse_args(argv):
    parser = cli.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--keras-model", help="the .keras file the .tflite files were converted from")
    source.add_argument("--model", type=str.upper, help=f"a variant ({', '.join(VARIANTS)}), with --weights")
    parser.add_argument(
        "--weights",
        default="imagenet",
        help="imagenet | imagenet_timm | imagenet_mbzuai | random | PATH (with --model)",
    )
    parser.add_argument("--files", nargs="+", required=True, help=".tflite files with metadata")
    parser.add_argument("--images", required=True, help="a folder of photos (one folder per class: top-1 too)")
    parser.add_argument("--num", type=cli.number(int, minimum=1), default=200)
    parser.add_argument("--crop-pct", type=cli.number(float, above=0, maximum=1), default=None)
    parser.add_argument("--csv", help="also write the rows here")
    args = parser.parse_args(argv)
    if args.model and args.model not in VARIANTS:
        parser.error(f"unknown --model {args.model!r}; use one of {', '.join(VARIANTS)}")
    return args


def _check_paths(args):
    """Refuses missing inputs and a --csv that cannot be written or would replace an input."""
    for file in args.files:
        if not os.path.isfile(file):
            raise ValueError(f"--files: {file!r} does not exist.")
    if args.keras_model and not os.path.isfile(args.keras_model):
        raise ValueError(f"--keras-model {args.keras_model!r} does not exist; give a .keras file.")
    weights = args.weights if args.model and args.weights not in NAMED_WEIGHTS else None
    if weights and not os.path.isfile(weights):
        raise ValueError(f"--weights {weights!r} does not exist; give {', '.join(NAMED_WEIGHTS)} or a weights file.")
    inputs = [("--files", file) for file in args.files]
    inputs += [("--images", args.images), ("--keras-model", args.keras_model), ("--weights", weights)]
    check_output_paths(("--csv", args.csv), inputs=inputs)


def _softmax_model(args):
    """The Keras model with the softmax the files have, and its input size."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # the backend the files were converted on
    with cli.quiet_startup():
        # TensorFlow starts only now, every flag checked: --help and bad input answer at once.
        from swiftformer_keras.lite import pipeline as conversion
        from swiftformer_keras.lite import rewrites
    logits_model, size = conversion.load_keras_model(args.model or "S", args.keras_model, args.weights)
    return rewrites.with_classifier_activation(logits_model, "softmax"), size


def _main(argv):
    args = _parse_args(argv)
    _check_paths(args)
    paths = _sample(args.images, args.num)
    names = _class_names(args)
    # Class folders matched by name now: folders only some of which are class names are refused
    # before the model loads.
    labels = calib_lib.class_labels(paths, args.images, names, len(names) if names else None)
    for client in CLIENTS:
        client_python(client)  # a missing environment fails before the model loads
    model, size = _softmax_model(args)
    if names is None:  # unnamed classes: folders are numbered if there is one per class of the model
        labels = calib_lib.class_labels(paths, args.images, None, model.outputs[0].shape[-1])
    crop_pct = crop_pct_for(args.crop_pct, args.keras_model, args.weights if args.model else None)
    rows = compare_clients(model, args.files, paths, size, crop_pct, labels)
    print(markdown(rows))
    if args.csv:
        write_csv_atomically(args.csv, [{key: row.get(key) for key in COLUMNS} for row in rows])
    return 0


if __name__ == "__main__":
    sys.exit(main())
