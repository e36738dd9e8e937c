"""Converts a PyTorch SwiftFormer checkpoint to a Keras `.weights.h5` file.

    python -m swiftformer_keras.convert_weights SRC DST.weights.h5 [--variant XS]

SRC is a `.pth`, `.pt`, `.bin` or `.safetensors` file in the official,
Hugging Face or timm layout; the layout and the variant are detected. The
output is written atomically and holds the full classifier.
"""

import sys

from swiftformer_keras.models.architecture import VARIANTS
from swiftformer_keras.utils import cli
from swiftformer_keras.utils.files import check_output_paths
from swiftformer_keras.weights import checkpoints

PROG = "python -m swiftformer_keras.convert_weights"


def main(argv=None):
    """Runs the converter; an expected failure is one line on stderr and exit code 2."""
    return cli.run(_main, argv, PROG)


def _main(argv):
    parser = cli.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("source", help="PyTorch checkpoint (.pth, .pt, .bin, .safetensors)")
    parser.add_argument("destination", help="output file, ending in .weights.h5")
    parser.add_argument(
        "--variant",
        type=str.upper,
        choices=sorted(VARIANTS),
        help="refuse the checkpoint unless it is this variant (default: detect)",
    )
    args = parser.parse_args(argv)
    # A destination folder that is missing or read-only is refused before Keras starts and the checkpoint is read.
    check_output_paths(("the destination", args.destination))
    with cli.quiet_startup():
        # Keras loads only now: --help and a bad flag answer at once.
        from swiftformer_keras.weights.sources import convert_to_keras_weights
    destination, variant, layout = convert_to_keras_weights(args.source, args.destination, config=args.variant)
    attention = checkpoints.LAYOUT_ATTENTION[layout]
    print(f"Converted {variant} ({layout} layout, attention={attention!r}, recorded in the file) to {destination}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
