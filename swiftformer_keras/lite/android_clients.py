"""Android's own image clients on the host: what an app gets from our `.tflite` files.

    .venv-tflite-runtime/bin/python -m swiftformer_keras.lite.android_clients task-library model.tflite a.jpg b.jpg
    .venv-mediapipe/bin/python -m swiftformer_keras.lite.android_clients mediapipe model.tflite a.jpg

Runs the TFLite Task Library `ImageClassifier` (tflite-support, the Python
face of the Android Task Library) or MediaPipe Tasks' `ImageClassifier` on
the images, each resized and center-cropped to the model's input as every
tool of the project does (`utils.images.resize_and_center_crop`), and
prints one JSON object: the client and its version, and per image every
class's score by index, the top class and its label name, as the client
read them from the file's metadata. The clients normalise the pixels
themselves from the metadata, or refuse the file: that is what is tested.

Each client lives in its own environment (tflite-support needs numpy < 2,
MediaPipe brings its own runtime), so this module needs only numpy, Pillow
and the client.
"""

import argparse
import importlib.metadata
import json
import os
import subprocess
import sys

import numpy as np

from swiftformer_keras.utils.images import IMAGENET_CROP_PCT, open_rgb, resize_and_center_crop

CLIENTS = ("task-library", "mediapipe")
# The environment `make test` makes for each client, relative to the project root.
CLIENT_VENVS = {"task-library": ".venv-tflite-runtime", "mediapipe": ".venv-mediapipe"}
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository


def client_python(client, root=ROOT):
    """The python of `client`'s environment.

    Raises:
        ValueError: the environment is missing; the message says how to make it.
    """
    venv = os.path.join(root, CLIENT_VENVS[client])
    python = os.path.join(venv, "bin", "python")
    if not os.access(python, os.X_OK):
        raise ValueError(
            f"{client} runs in {venv}, which does not exist: run `make {CLIENT_VENVS[client]}/.installed`."
        )
    return python


def classify_in_client(client, model, images, size, crop_pct, classes, python=None, timeout=600):
    """`client`'s answer on `images` (paths) in its own environment: the JSON `main` prints.

    A client that refuses the file answers `{"client": ..., "error": "..."}`.
    """
    python = python or client_python(client)
    done = subprocess.run(
        [
            python,
            "-m",
            "swiftformer_keras.lite.android_clients",
            client,
            os.path.abspath(model),
            *map(os.path.abspath, images),
            "--size",
            *map(str, size),
            "--crop-pct",
            str(crop_pct),
            "--classes",
            str(classes),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=timeout,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"{client} printed no answer (exit {done.returncode}): {done.stderr[-2000:]}")
    return json.loads(lines[-1])


def center_crops(paths, size, crop_pct=IMAGENET_CROP_PCT):
    """The images as uint8 RGB arrays, resized and center-cropped to `size` as every tool does."""
    crops = []
    for path in paths:
        with open_rgb(path) as image:
            crops.append(np.ascontiguousarray(np.asarray(resize_and_center_crop(image, size, crop_pct), np.uint8)))
    return crops


def _result(categories, num_classes):
    scores = [0.0] * num_classes
    for category in categories:
        scores[category.index] = float(category.score)
    best = max(categories, key=lambda c: c.score)
    return {"scores": scores, "top1": int(best.index), "top1_name": best.category_name}


def task_library(model, crops, num_classes, threads):
    """The Task Library's `ImageClassifier` on uint8 RGB crops."""
    from tflite_support.task import core, processor, vision  # the client of its own environment (module docstring)

    options = vision.ImageClassifierOptions(
        base_options=core.BaseOptions(file_name=model, num_threads=threads),
        classification_options=processor.ClassificationOptions(max_results=-1),
    )
    classifier = vision.ImageClassifier.create_from_options(options)
    results = []
    for crop in crops:
        answer = classifier.classify(vision.TensorImage.create_from_array(crop))
        results.append(_result(answer.classifications[0].categories, num_classes))
    version = importlib.metadata.version("tflite-support")
    return {"client": "tflite-support Task Library", "version": version, "results": results}


def mediapipe(model, crops, num_classes, threads):
    """MediaPipe Tasks' `ImageClassifier` on uint8 RGB crops (threads: MediaPipe's own choice)."""
    # The client of its own environment (see the module docstring).
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    options = vision.ImageClassifierOptions(base_options=BaseOptions(model_asset_path=model), max_results=num_classes)
    results = []
    with vision.ImageClassifier.create_from_options(options) as classifier:
        for crop in crops:
            answer = classifier.classify(mp.Image(image_format=mp.ImageFormat.SRGB, data=crop))
            results.append(_result(answer.classifications[0].categories, num_classes))
    return {"client": "MediaPipe Tasks", "version": mp.__version__, "results": results}


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m swiftformer_keras.lite.android_clients",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("client", choices=CLIENTS)
    parser.add_argument("model", help="a .tflite image classifier with metadata")
    parser.add_argument("images", nargs="+")
    parser.add_argument("--size", type=int, nargs=2, default=(224, 224), metavar=("H", "W"))
    parser.add_argument("--crop-pct", type=float, default=IMAGENET_CROP_PCT)
    parser.add_argument("--classes", type=int, default=1000, help="the model's number of classes")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    crops = center_crops(args.images, tuple(args.size), args.crop_pct)
    run = {"task-library": task_library, "mediapipe": mediapipe}[args.client]
    try:
        answer = run(args.model, crops, args.classes, args.threads)
    except Exception as error:  # the client's own refusal, reported as the app would see it
        print(json.dumps({"client": args.client, "error": f"{type(error).__name__}: {error}"}))
        return 1
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
