"""SwiftFormer in Keras: the variants, ImageNet predictions, parity with PyTorch.

    python examples/demo.py [--variant XS] [--images ../shared/data/imagenet-samples]

1. Builds the four variants and prints their parameter counts.
2. Loads the variant with weights="imagenet" (downloaded once, or from the
   cache / a mirror named by SWIFTFORMER_WEIGHTS_URL) and classifies sample
   photos; offline and uncached, it says which file to fetch and goes on.
3. Converts a PyTorch SwiftFormer (transformers' implementation, random
   weights, written as an official checkpoint) with the project's converter
   and compares the logits of both on real photos.
4. Converts the variant to a full-integer int8 `.tflite` (conversion/to_tflite.py's
   library function), calibrated on half of the photos, and measures it against
   the Keras model on the other half: size, XNNPACK partitions, agreement.
"""

import argparse
import csv
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # android_bench is a folder of the repository, not an installed package
    sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

import swiftformer_keras as sfk  # noqa: E402
from android_bench import torch_reference  # noqa: E402  (imports torch only when called)
from swiftformer_keras import conversion  # noqa: E402
DEFAULT_IMAGES = os.path.join(ROOT, "..", "shared", "data", "imagenet-samples")


def sample_images(folder, count):
    """`(uint8 images, labels)` of the first `count` samples (one per class)."""
    labels_file = os.path.join(folder, "labels.csv")
    if not os.path.isfile(labels_file):
        return None, None
    with open(labels_file) as file:
        rows = list(csv.DictReader(file))[:count]
    images = [sfk.load_image(os.path.join(folder, r["file"])) for r in tqdm(rows, desc="images", leave=False)]
    return np.stack(images), np.array([int(r["class_index"]) for r in rows])


def show_variants():
    print("| variant | parameters | stage widths | stage depths |")
    print("|---|---:|---|---|")
    for name, spec in sfk.VARIANTS.items():
        model = sfk.SwiftFormer(name)
        params = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        print(f"| SwiftFormer-{name} | {params:,} | {spec['widths']} | {spec['depths']} |")


def imagenet_predictions(variant, images, labels):
    try:
        model = sfk.SwiftFormer(variant, weights="imagenet")
    except (OSError, ImportError) as error:
        print(f"\nImageNet weights not available here:\n  {error}\n")
        return
    if images is None:
        print("No sample images (../shared/data is absent); skipping predictions.")
        return
    probabilities = model.predict(sfk.preprocess_input(images), batch_size=32, verbose=1)
    for label, top in list(zip(labels, sfk.decode_predictions(probabilities, top=3)))[:5]:
        names = ", ".join(f"{name} {score:.2f}" for _, name, score in top)
        print(f"  true {sfk.imagenet_utils.imagenet_class_index()[label][1]!r:>24}: {names}")
    top1 = float((probabilities.argmax(1) == labels).mean())
    print(f"SwiftFormer-{variant} ImageNet weights: top-1 {top1:.1%} on {len(labels)} sample photos")


def pytorch_parity(variant, images):
    try:
        import torch
        import transformers  # noqa: F401
    except ImportError:
        print("PyTorch or transformers is not installed; skipping the parity check.")
        return
    spec = sfk.VARIANTS[variant]
    reference = torch_reference.random_reference(spec["depths"], spec["widths"])
    if images is None:
        images = np.random.RandomState(0).randint(0, 256, (8, 224, 224, 3), dtype=np.uint8)
    pixels = sfk.preprocess_input(images)
    with tempfile.TemporaryDirectory() as folder:
        source = os.path.join(folder, "pytorch_model.bin")
        torch.save(reference.state_dict(), source)
        destination = os.path.join(folder, "converted.weights.h5")
        sfk.convert_to_keras_weights(source, destination)
        model = sfk.SwiftFormer(variant, weights=destination, classifier_activation=None)
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


def int8_tflite(variant, images_folder):
    photos = os.path.join(images_folder, "images")
    if not os.path.isdir(photos):
        print("No sample images (../shared/data is absent); skipping the int8 conversion.")
        return
    paths = sorted(os.listdir(photos))
    with tempfile.TemporaryDirectory() as folder:
        calib, held_out = os.path.join(folder, "calib"), os.path.join(folder, "eval")
        for index, name in enumerate(paths[:128]):  # alternate photos: calibration and evaluation apart
            target = calib if index % 2 == 0 else held_out
            os.makedirs(target, exist_ok=True)
            os.symlink(os.path.join(os.path.abspath(photos), name), os.path.join(target, name))
        try:
            weights = "imagenet"
            sfk.SwiftFormer(variant, weights=weights)
        except (ValueError, OSError):
            weights = "random"
        output = os.path.join(folder, f"swiftformer_{variant.lower()}_int8.tflite")
        report = conversion.convert_swiftformer(
            output, mode="int8", variant=variant, weights=weights, calib_dir=calib, num_calib=64,
            eval_dir=held_out, num_eval=64,
        )
    fidelity = report["fidelity"]
    print(
        f"\nSwiftFormer-{variant} int8 TFLite ({weights} weights): {report['size_bytes'] / 1e6:.1f} MB, "
        f"{report['xnnpack_partitions']} XNNPACK partition(s), float ops kept: "
        f"{', '.join(report['float_ops_in_integer_model'])}; against Keras on {fidelity['images']} "
        f"held-out photos: top-1 agreement {fidelity['top1_agreement']:.1%}, SQNR of the probabilities "
        f"{fidelity['sqnr_db']:.1f} dB; the file carries its labels and takes RGB pixels (Task Library, MediaPipe)"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", default="XS", type=str.upper, choices=sorted(sfk.VARIANTS))
    parser.add_argument("--images", default=DEFAULT_IMAGES, help="folder with labels.csv and images/")
    parser.add_argument("--count", type=int, default=64, help="how many sample photos to use")
    args = parser.parse_args(argv)

    show_variants()
    images, labels = sample_images(args.images, args.count)
    imagenet_predictions(args.variant, images, labels)
    pytorch_parity(args.variant, images)
    int8_tflite(args.variant, args.images)
    return 0


if __name__ == "__main__":
    sys.exit(main())
