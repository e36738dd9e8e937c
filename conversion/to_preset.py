"""KerasHub preset folders of SwiftFormer, one per variant and weights, ready to upload to Kaggle or the hub.

    python conversion/to_preset.py --variants XS S L1 L3 --weights imagenet imagenet_mbzuai --output-dir presets/
    python conversion/to_preset.py --variants XS --weights my_run/model.weights.h5 --output-dir presets/

Each folder is `swiftformer_<variant>_<weights>` (`imagenet` is named after the source it stands for:
`imagenet_timm`), holding what KerasHub's `save_to_preset` writes and a `README.md` model card; it is
loaded back with `keras_hub.models.ImageClassifier.from_preset` and compared with the Keras model
before any folder is replaced (`swiftformer_keras.presets.preset_folders`). Published weights come
from the cache, else from the Hugging Face hub (`SWIFTFORMER_WEIGHTS_URL` names a mirror).
The table of presets is printed, and written as `presets.csv` in the output folder.
"""

import os
import sys

from swiftformer_keras.presets.plan import plan_presets
from swiftformer_keras.utils import cli
from swiftformer_keras.weights.published import WEIGHT_NAMES

PROG = "conversion/to_preset.py"
INDEX = "presets.csv"


def main(argv=None):
    """The command line; an expected failure ends in one line and exit code 2."""
    return cli.run(_main, argv, PROG)


def _main(argv):
    parser = cli.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", nargs="+", default=["XS"], metavar="VARIANT", help="XS, S, L1, L3 (default: XS)")
    parser.add_argument(
        "--weights",
        nargs="+",
        default=["imagenet"],
        metavar="WEIGHTS",
        help=f"{', '.join(WEIGHT_NAMES)}, or .weights.h5 files (default: imagenet)",
    )
    parser.add_argument("--output-dir", required=True, help="the folder the preset folders go into")
    args = parser.parse_args(argv)
    if os.path.exists(args.output_dir) and not os.path.isdir(args.output_dir):
        raise ValueError(f"--output-dir {args.output_dir!r} is a file; give a folder.")
    plan_presets(args.output_dir, args.variants, args.weights)  # every refusal before Keras starts
    cli.import_keras_hub("Writing KerasHub presets")
    with cli.quiet_startup():
        from swiftformer_keras.presets import preset_folders
    rows = preset_folders.write_presets(args.output_dir, args.variants, args.weights, index=INDEX)
    print(preset_folders.markdown(rows))
    print(f"\nwrote {len(rows)} preset folder(s) and {os.path.join(args.output_dir, INDEX)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
