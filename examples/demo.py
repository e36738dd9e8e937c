"""SwiftFormer in Keras: the variants, ImageNet predictions, parity with PyTorch, an int8 file.

    python examples/demo.py [--variant XS] [--images ../shared/data/imagenet-samples] [--count 128]
                            [--output xs_int8.tflite]

The photos: the first --count of a folder with labels.csv (class_index, file) and
images/, by default ../shared/data/imagenet-samples beside the repository; where
that folder is absent, the 14 photographs that scikit-image and matplotlib ship
inside their wheels (a cat, an espresso, a rocket, Grace Hopper, gravel, ...),
so that the demo does its whole job on a fresh machine, offline.

1. Builds the four variants and prints their parameter counts.
2. Loads the variant with weights="imagenet" (downloaded once, or from the
   cache / a mirror named by SWIFTFORMER_WEIGHTS_URL) and prints its top-5 on
   the photos; offline and uncached, it says which file to fetch and goes on
   with random weights.
3. Converts a PyTorch SwiftFormer (transformers' implementation, random
   weights, written as an official checkpoint) with the project's converter
   and compares the logits of both on the photos.
4. Converts the variant to a full-integer int8 `.tflite` (the library function
   behind conversion/to_tflite.py), calibrated on half of the photos, and
   measures it against the Keras model on the other half: size, XNNPACK
   partitions, agreement.

A bad value (--count 0, a --output not ending in .tflite) is one line on stderr and exit code 2.
"""

import argparse
import csv
import importlib.metadata
import importlib.resources
import os
import sys
import tempfile

import numpy as np

from android_bench import torch_reference  # imports torch only when called
from swiftformer_keras.models.architecture import VARIANTS
from swiftformer_keras.utils import cli, files
from swiftformer_keras.utils.images import decode_predictions, imagenet_class_index, load_image, preprocess_input
from swiftformer_keras.utils.tables import markdown_table
from swiftformer_keras.weights.published import weights_crop_pct

PROG = "examples/demo.py"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the repository, beside ../shared
SHARED_IMAGES = os.path.normpath(os.path.join(ROOT, "..", "shared", "data", "imagenet-samples"))
# Photographs inside the wheels of scikit-image and matplotlib (nothing is downloaded):
# (distribution, module, file in it, ImageNet class of its subject or None, what it shows).
# The seven without a class widen the int8 calibration: on the first seven alone (four
# calibrate, three measure) random weights kept 7 dB of SQNR, on all fourteen 12 dB.
BUNDLED_PHOTOS = [
    ("scikit-image", "skimage", "data/chelsea.png", 281, "a tabby cat"),
    ("scikit-image", "skimage", "data/coffee.png", 967, "a cup of espresso"),
    ("scikit-image", "skimage", "data/rocket.jpg", 657, "a rocket on its launch pad"),
    ("scikit-image", "skimage", "data/motorcycle_left.png", 665, "a motorcycle in a garage"),
    ("scikit-image", "skimage", "data/camera.png", 872, "a cameraman at his tripod (greyscale)"),
    ("matplotlib", "matplotlib", "mpl-data/sample_data/grace_hopper.jpg", 652, "Grace Hopper in uniform"),
    ("scikit-image", "skimage", "data/astronaut.png", None, "astronaut Eileen Collins"),
    ("scikit-image", "skimage", "data/coins.png", None, "coins (greyscale)"),
    ("scikit-image", "skimage", "data/brick.png", None, "a brick wall (greyscale)"),
    ("scikit-image", "skimage", "data/grass.png", None, "grass (greyscale)"),
    ("scikit-image", "skimage", "data/gravel.png", None, "gravel (greyscale)"),
    ("scikit-image", "skimage", "data/moon.png", None, "the Moon's surface (greyscale)"),
    ("scikit-image", "skimage", "data/hubble_deep_field.jpg", None, "the Hubble deep field"),
    ("scikit-image", "skimage", "data/retina.jpg", None, "a retina (fundus photograph)"),
]


class Photos:
    """The demo's photos: `paths`, uint8 `images` (N, 224, 224, 3) center-cropped as the ImageNet
    weights expect, `classes` (ImageNet index, -1 where none), `captions` and `source`, the sentence
    that says where they came from."""

    def __init__(self, paths, classes, captions, source):
        self.paths, self.captions, self.source = paths, captions, source
        self.classes = np.array([-1 if c is None else int(c) for c in classes])
        crop_pct = weights_crop_pct("imagenet")
        self.images = np.stack([load_image(path, crop_pct=crop_pct) for path in paths])


def shared_photos(folder, count):
    """The first `count` photos listed in `folder`/labels.csv, or None without that file."""
    labels_file = os.path.join(folder, "labels.csv")
    if not os.path.isfile(labels_file):
        return None
    with open(labels_file, newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    chosen = rows[:count]
    return Photos(
        [os.path.join(folder, row["file"]) for row in chosen],
        [row["class_index"] for row in chosen],
        [row.get("name") or os.path.basename(row["file"]) for row in chosen],
        f"{len(chosen)} of the {len(rows)} photos listed in {os.path.normpath(labels_file)}",
    )


def bundled_photos(count):
    """Up to `count` of `BUNDLED_PHOTOS`, read from the installed packages."""
    chosen = BUNDLED_PHOTOS[:count]
    paths, versions = [], {}
    for distribution, module, name, _, _ in chosen:
        try:
            paths.append(str(importlib.resources.files(module) / name))
            versions[distribution] = importlib.metadata.version(distribution)
        except ImportError:
            raise ImportError(
                f"the demo's own photos come with {distribution}, which is not installed: "
                f"pip install -r requirements.txt, or give --images FOLDER with labels.csv"
            ) from None
    packages = " and ".join(f"{name} {version}" for name, version in versions.items())
    return Photos(
        paths,
        [entry[3] for entry in chosen],
        [entry[4] for entry in chosen],
        f"the {len(chosen)} photos that {packages} ship",
    )


def load_photos(folder, count):
    """The photos of `folder` (labels.csv and images/) when it has them, else the bundled ones."""
    photos = shared_photos(folder, count)
    if photos is not None:
        return photos
    photos = bundled_photos(count)
    photos.source += f" ({os.path.normpath(folder)} has no labels.csv)"
    return photos


def show_variants(SwiftFormer):
    """Builds each variant and prints its trainable parameters beside its stage widths and depths."""
    rows = []
    for name, spec in VARIANTS.items():
        params = sum(int(np.prod(w.shape)) for w in SwiftFormer(name).trainable_weights)
        rows.append([f"SwiftFormer-{name}", f"{params:,}", spec["widths"], spec["depths"]])
    print(markdown_table(["variant", "parameters", "stage widths", "stage depths"], rows, align="lrll"))


def imagenet_predictions(SwiftFormer, variant, photos):
    """Prints the top-5 of the ImageNet weights; returns the weights the int8 file gets."""
    try:
        model = SwiftFormer(variant, weights="imagenet")
    except (OSError, ValueError, ImportError) as error:
        print(f"\nImageNet weights not available here; the int8 file gets random weights:\n  {error}\n")
        return "random"
    probabilities = model.predict(preprocess_input(photos.images), batch_size=32, verbose=0)
    names = imagenet_class_index()
    for caption, label, top in list(
        zip(photos.captions, photos.classes, decode_predictions(probabilities), strict=True)
    )[:8]:
        expected = f" [{names[label][1]}]" if label >= 0 else ""
        print(f"  {caption}{expected}: " + ", ".join(f"{name} {score:.2f}" for _, name, score in top))
    known = photos.classes >= 0
    ranked = np.argsort(-probabilities[known], axis=1)[:, :5]
    top1 = (ranked[:, 0] == photos.classes[known]).mean()
    top5 = (ranked == photos.classes[known][:, None]).any(axis=1).mean()
    print(
        f"SwiftFormer-{variant} ImageNet weights: top-1 {top1:.0%}, top-5 {top5:.0%} "
        f"on the {int(known.sum())} of {len(photos.paths)} photos with an ImageNet class"
    )
    return "imagenet"


def pytorch_parity(SwiftFormer, convert_to_keras_weights, torch, variant, photos):
    if torch is None:
        print("PyTorch or transformers is not installed; skipping the parity check.")
        return
    spec = VARIANTS[variant]
    reference = torch_reference.random_reference(spec["depths"], spec["widths"])
    pixels = preprocess_input(photos.images)
    with tempfile.TemporaryDirectory() as folder:
        source = os.path.join(folder, "pytorch_model.bin")
        torch.save(reference.state_dict(), source)
        destination = os.path.join(folder, "converted.weights.h5")
        convert_to_keras_weights(source, destination)
        model = SwiftFormer(variant, weights=destination, classifier_activation=None)
        keras_logits = model.predict(pixels, batch_size=32, verbose=0)
    with torch.no_grad():
        torch_logits = reference(torch.from_numpy(pixels.transpose(0, 3, 1, 2).copy())).logits.numpy()
    # Relative to the logits' size, the error reads alike for random and trained weights.
    relative = np.abs(keras_logits - torch_logits).max() / np.abs(torch_logits).max()
    agree = (keras_logits.argmax(1) == torch_logits.argmax(1)).mean()
    print(
        f"PyTorch -> Keras SwiftFormer-{variant} (random weights) on {len(pixels)} photos: "
        f"max |logit diff| / max |logit| = {relative:.1e}, top-1 agreement {agree:.0%}"
    )


def int8_tflite(conversion, variant, weights, photos, output):
    """Calibrates on the even photos and measures the file on the odd ones; writes `output`
    (with its card and report) when given, else a temporary file."""
    with tempfile.TemporaryDirectory() as folder:
        calib, held_out = os.path.join(folder, "calib"), os.path.join(folder, "eval")
        for index, path in enumerate(photos.paths):
            target = calib if index % 2 == 0 else held_out
            os.makedirs(target, exist_ok=True)
            os.symlink(os.path.abspath(path), os.path.join(target, f"{index:04d}_{os.path.basename(path)}"))
        calibrated = (len(photos.paths) + 1) // 2
        report = conversion.convert_swiftformer(
            output or os.path.join(folder, f"swiftformer_{variant.lower()}_int8.tflite"),
            mode="int8",
            variant=variant,
            weights=weights,
            calib_dir=calib,
            num_calib=calibrated,
            eval_dir=held_out,
            num_eval=len(photos.paths) - calibrated,
        )
    fidelity = report["fidelity"]
    print(
        f"\nSwiftFormer-{variant} int8 TFLite ({weights} weights), calibrated on {calibrated} photos: "
        f"{report['size_bytes'] / 1e6:.1f} MB, {report['xnnpack_partitions']} XNNPACK partition(s), "
        f"float ops kept: {', '.join(report['float_ops_in_integer_model']) or 'none'}; against Keras on "
        f"{fidelity['images']} held-out photos: top-1 agreement {fidelity['top1_agreement']:.1%}, SQNR of the "
        f"probabilities {fidelity['sqnr_db']:.1f} dB; the file carries its labels and takes RGB pixels "
        "(Task Library, MediaPipe)"
    )
    if output:
        print(f"wrote {output}")


def parse_args(argv=None):
    parser = cli.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", default="XS", type=str.upper, choices=list(VARIANTS))
    parser.add_argument(
        "--images",
        default=SHARED_IMAGES,
        help="folder with labels.csv and images/ (default: %(default)s); "
        "without labels.csv, the photos scikit-image and matplotlib ship",
    )
    parser.add_argument(
        "--count",
        type=cli.number(int, minimum=2),
        default=128,
        help="how many photos to use, at least 2: the int8 file is calibrated on half "
        "and measured on the other half (default: %(default)s)",
    )
    parser.add_argument(
        "--output", help="keep the int8 .tflite file here, with its card and report (default: a temporary file)"
    )
    args = parser.parse_args(argv)
    if args.output is not None and not args.output.endswith(".tflite"):
        parser.error(f"argument --output: must end in .tflite, got {args.output!r}")
    return args


def main(argv=None):
    """The command line; returns the exit code (2 and one line on stderr for an expected failure)."""
    return cli.run(_main, argv, prog=PROG)


def _main(argv):
    args = parse_args(argv)
    files.check_output_paths(("--output", args.output))  # a missing folder fails now, not after the work
    photos = load_photos(args.images, args.count)
    print(f"Photos: {photos.source}.")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # TFLite conversion runs on TensorFlow
    with cli.quiet_startup():
        # TensorFlow and PyTorch load here, after the flags are checked: --help and bad input answer at once.
        from swiftformer_keras.applications import SwiftFormer
        from swiftformer_keras.lite import pipeline as conversion
        from swiftformer_keras.weights.sources import convert_to_keras_weights

        try:  # the PyTorch reference is transformers' SwiftFormer; it loads torchao, which prints too
            import torch
            from transformers import SwiftFormerForImageClassification  # noqa: F401
        except ImportError:
            torch = None
    show_variants(SwiftFormer)
    weights = imagenet_predictions(SwiftFormer, args.variant, photos)
    pytorch_parity(SwiftFormer, convert_to_keras_weights, torch, args.variant, photos)
    int8_tflite(conversion, args.variant, weights, photos, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
