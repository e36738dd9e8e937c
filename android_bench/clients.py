"""How our files fare in Android's own image clients, against the Keras model: one table.

    python android_bench/clients.py --keras-model run/model.keras --files cifar_fp32.tflite cifar_int8.tflite \\
        --images data/test --num 1000

Each file runs in the TFLite Task Library (`.venv-tflite-runtime`) and in
MediaPipe Tasks (`.venv-mediapipe`), both made by `make test`, on the same
images, resized and center-cropped as every tool does; the Keras model (with
the softmax the files have) scores the same crops. Per file and client: the
top-1 agreement with Keras, the largest probability difference, and with one
folder per class the top-1 of both. A client that refuses a file gets its
message in the table. `--csv FILE` also writes the rows for machines.
"""

import argparse
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, ROOT)
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from swiftformer_keras import calibration as calib_lib  # noqa: E402
from swiftformer_keras import cli, conversion, export  # noqa: E402
from swiftformer_keras.android_clients import CLIENTS, center_crops, classify_in_client, client_python  # noqa: E402
from swiftformer_keras.files import write_csv_atomically  # noqa: E402
from swiftformer_keras.imagenet_utils import preprocess_input, resolve_crop_pct  # noqa: E402

PROG = "android_bench/clients.py"
COLUMNS = ("file", "client", "version", "images", "top1_agreement", "max_prob_diff", "keras_top1", "file_top1", "error")


def _sample(folder, count):
    """Up to `count` images of `folder`, evenly spread over its sorted list, and their class
    indices when it has one folder per class (sorted names, as training numbers them)."""
    paths, _ = calib_lib.find_images(folder)
    paths = [paths[i] for i in np.linspace(0, len(paths) - 1, min(count, len(paths))).round().astype(int)]
    classes = sorted(e.name for e in os.scandir(folder) if e.is_dir() and not e.name.startswith("."))
    labels = [os.path.relpath(p, folder).split(os.sep)[0] for p in paths]
    if classes and all(label in classes for label in labels):
        return paths, np.array([classes.index(label) for label in labels])
    return paths, None


def compare_clients(model, files, paths, size, crop_pct, labels=None, clients=CLIENTS):
    """The table's rows: each file in each client against `model` (a Keras classifier with softmax)."""
    crops = center_crops(paths, size, crop_pct)
    reference = model.predict(preprocess_input(np.stack(crops)), batch_size=64, verbose=0)
    rows = []
    for file in files:
        for client in clients:
            answer = classify_in_client(client, file, paths, size, crop_pct, reference.shape[1])
            row = {"file": os.path.basename(file), "client": client, "version": answer.get("version"),
                   "images": len(paths), "error": answer.get("error")}
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
    lines = ["| file | client | images | top-1 agreement with Keras | max prob diff | top-1 Keras | top-1 file |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for row in rows:
        if row.get("error"):
            lines.append(f"| {row['file']} | {row['client']} | {row['images']} | refused: {row['error']} | | | |")
            continue
        top1 = [f"{100 * row[key]:.2f}%" if key in row else "-" for key in ("keras_top1", "file_top1")]
        lines.append(f"| {row['file']} | {row['client']} {row['version']} | {row['images']} | "
                     f"{100 * row['top1_agreement']:.2f}% | {row['max_prob_diff']:.2e} | {top1[0]} | {top1[1]} |")
    return "\n".join(lines)


def main(argv=None):
    return cli.run(_main, argv, prog=PROG)


def _main(argv):
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--keras-model", help="the .keras file the .tflite files were converted from")
    source.add_argument("--model", type=str.upper, help="a variant, with --weights")
    parser.add_argument("--weights", default="imagenet", help="imagenet | random | PATH (with --model)")
    parser.add_argument("--files", nargs="+", required=True, help=".tflite files with metadata")
    parser.add_argument("--images", required=True, help="a folder of photos (one folder per class: top-1 too)")
    parser.add_argument("--num", type=cli.number(int, minimum=1), default=200)
    parser.add_argument("--crop-pct", type=cli.number(float, above=0, maximum=1), default=None)
    parser.add_argument("--csv", help="also write the rows here")
    args = parser.parse_args(argv)
    for file in args.files:
        if not os.path.isfile(file):
            raise ValueError(f"--files: {file!r} does not exist.")
    for client in CLIENTS:
        client_python(client)  # a missing environment fails before the model loads
    logits_model, size = conversion.load_keras_model(args.model or "S", args.keras_model, args.weights)
    model = export.with_classifier_activation(logits_model, "softmax")
    paths, labels = _sample(args.images, args.num)
    rows = compare_clients(model, args.files, paths, size, resolve_crop_pct(args.crop_pct, args.keras_model), labels)
    print(markdown(rows))
    if args.csv:
        write_csv_atomically(args.csv, [{key: row.get(key) for key in COLUMNS} for row in rows])
    return 0


if __name__ == "__main__":
    sys.exit(main())
