"""Convert SwiftFormer to a builtin-only TFLite model and report what it costs.

    python conversion/to_tflite.py --int8 --calib-dir photos/            # SwiftFormer-S, ImageNet weights
    python conversion/to_tflite.py --model XS --weights random --fp16
    python conversion/to_tflite.py --keras-model run/model.keras --int8 --calib-dir data/train \\
        --eval-dir data/test --crop-pct 1.0 --report int8.json --debug

The same command line is `swiftformer-to-tflite` and `python -m
swiftformer_keras.to_tflite` once the package is installed; the library under
it is `swiftformer_keras.lite` (`pipeline.convert` of one `ConversionRequest`).

Every file is a drop-in for Android's image clients (Task Library, MediaPipe
Tasks): it returns probabilities (--classifier-activation none: logits), takes
RGB pixels in [0, 255] (--input-type float32, the default; uint8: camera
bytes; normalized: the Keras model's own input) and carries TFLite metadata
with its class names (--labels FILE, else those a trained model records, else
ImageNet's); its model card <name>.md and report <name>.json are written beside it.

Modes: --fp32 (default), --fp16 (fp16 weights; computed in fp16 on CPUs with fp16
arithmetic, Armv8.2 on, unless --fp32-arithmetic), --dynamic (int8 weights, float activations),
--int8 (full integer; needs --calib-dir, or --calib-random for latency tests
only; --io, --num-calib, --float-ops and --debug apply to it alone).
--min-runtime 2.14 makes the file load and run fast on tflite-runtime 2.14 and
the last Android AAR (2.16) too; the report states the oldest runtime the file
loads on, computed from its op versions. The report (printed, and with
--report as JSON) gives the file size, the ops by type and dtype, the XNNPACK
partitions, the ops the Android GPU and NNAPI delegates would refuse, and
with --eval-dir the fidelity against the Keras model.

Every expected failure (a bad value, an unusable path, an output that would
overwrite an input, weights that cannot be downloaded, a full disk) is one line
`<command>: error: ...` and exit code 2; arguments, inputs and
destinations are checked before TensorFlow starts. The file, its card and its
report land together after every check, or none does.
"""

import argparse
import dataclasses
import os
import shlex
import sys
import tempfile

from swiftformer_keras.lite.recipe import DEFAULT_MIN_RUNTIME, INPUT_TYPES, IO_TYPES, MODES, recipe_for
from swiftformer_keras.lite.request import (
    AUTHOR,
    DEFAULT_NUM_CALIB,
    DEFAULT_NUM_EVAL,
    DEFAULT_VARIANT,
    ConversionRequest,
)
from swiftformer_keras.lite.runtime_versions import SUPPORTED_MIN_RUNTIMES, check_runtime_choice
from swiftformer_keras.models.architecture import ACTIVATIONS, MIN_INPUT_SIZE, VARIANTS
from swiftformer_keras.presets.plan import keras_hub_kind
from swiftformer_keras.utils import cli, files
from swiftformer_keras.utils.images import IMAGENET_CROP_PCT

PROG = "swiftformer-to-tflite"


def parse_args(argv=None, prog=PROG):
    """The parsed flags, with the mode (default fp32) and the output's default name filled in."""
    parser = cli.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_model_arguments(parser.add_argument_group("the model"))
    _add_file_arguments(parser.add_argument_group("the file"))
    _add_check_arguments(parser.add_argument_group("calibration and checks"))
    _add_output_arguments(parser.add_argument_group("metadata and outputs"))
    args = parser.parse_args(argv)
    args.mode = args.mode or "fp32"
    if args.output is None:
        name = os.path.splitext(os.path.basename(args.keras_model))[0] if args.keras_model else args.model.lower()
        args.output = f"swiftformer_{name}_{args.mode}.tflite"
    return args


def _add_model_arguments(group):
    source = group.add_mutually_exclusive_group()
    source.add_argument(
        "--model", default=DEFAULT_VARIANT, type=str.upper, help=f"variant: {', '.join(VARIANTS)} (any case)"
    )
    source.add_argument(
        "--keras-model",
        help="a .keras file holding a SwiftFormer (it carries its weights), or a KerasHub SwiftFormer: "
        "a preset folder or the .keras file of a fine-tuned SwiftFormerImageClassifier",
    )
    group.add_argument(
        "--weights",
        default=None,
        help="imagenet (default; timm's current generation) | imagenet_timm | imagenet_mbzuai (the first release) "
        "| random | PATH, for a --model variant",
    )
    group.add_argument(
        "--input-size",
        type=cli.number(int, minimum=MIN_INPUT_SIZE),
        nargs=2,
        metavar=("H", "W"),
        help="multiples of 32",
    )
    group.add_argument(
        "--crop-pct",
        type=cli.number(float, above=0, maximum=1),
        default=None,
        help="evaluation crop fraction the model expects (default: the one a --keras-model "
        "trained by the project records, or the --weights' own (imagenet: 0.95), "
        f"else {IMAGENET_CROP_PCT})",
    )


def _add_file_arguments(group):
    modes = group.add_mutually_exclusive_group()
    for mode in MODES:
        modes.add_argument(f"--{mode}", dest="mode", action="store_const", const=mode)
    group.add_argument("--io", choices=IO_TYPES, default="float32", help="int8: the file's input/output type")
    group.add_argument(
        "--input-type",
        choices=INPUT_TYPES,
        default="float32",
        help="what the file takes: float32 RGB pixels in [0, 255] (default), uint8 pixels "
        "(camera bytes), or normalized (the Keras model's input: ImageNet mean/std applied; "
        "MediaPipe refuses its per-channel metadata)",
    )
    group.add_argument(
        "--classifier-activation",
        choices=("softmax", "none"),
        default="softmax",
        help="the output: softmax probabilities (default, as keras.applications) or none (logits)",
    )
    group.add_argument(
        "--min-runtime",
        type=cli.checked_by(check_runtime_choice),
        metavar="VERSION",
        help="the oldest TFLite runtime (TF numbering: tflite-runtime 2.14, the 2.16 AAR; LiteRT "
        f"1.x/2.x are >= 2.17) the file must load and be fast on: {', '.join(SUPPORTED_MIN_RUNTIMES)}. "
        "It picks the recipe; a file needing a newer runtime is refused. Default per mode: "
        + ", ".join(f"{mode} {version}" for mode, version in DEFAULT_MIN_RUNTIME.items()),
    )
    group.add_argument(
        "--float-ops",
        nargs="+",
        default=None,
        metavar="OP",
        help="int8: TFLite op types to keep in float, added to those the recipe keeps",
    )
    group.add_argument(
        "--fp32-arithmetic",
        action="store_true",
        help="fp16: compute in fp32 on every CPU, with the fp32 file's norms (by default an fp16 file asks "
        "XNNPACK for fp16 arithmetic, which ARM cores from Armv8.2 on have)",
    )
    group.add_argument(
        "--activation",
        choices=ACTIVATIONS,
        default=None,
        help="the GELU form the file computes (default: the recipe's; e.g. gelu_tanh for an "
        "old-runtime float file closer to the model, at 1.26x its latency on tflite-runtime 2.14)",
    )


def _add_check_arguments(group):
    group.add_argument("--calib-dir", help="int8: calibration photos (recursive .jpg/.png)")
    group.add_argument("--num-calib", type=cli.number(int, minimum=1), default=DEFAULT_NUM_CALIB)
    group.add_argument("--calib-random", action="store_true", help="int8: calibrate on noise (latency tests only)")
    group.add_argument("--eval-dir", help="held-out photos to measure the file against the Keras model")
    group.add_argument("--num-eval", type=cli.number(int, minimum=1), default=DEFAULT_NUM_EVAL)
    group.add_argument("--debug", action="store_true", help="int8: per-layer quantization error table")
    group.add_argument(
        "--latency-runs",
        type=cli.number(int, minimum=0),
        default=0,
        metavar="N",
        help="measure host latency over N runs into the report and card",
    )


def _add_output_arguments(group):
    group.add_argument(
        "--labels",
        metavar="FILE",
        help="class names, one UTF-8 line per class (default: a trained model's recorded names, "
        "else ImageNet's for 1000 classes)",
    )
    group.add_argument(
        "--no-metadata",
        dest="metadata",
        action="store_false",
        help="write no TFLite metadata (Task Library and MediaPipe need it)",
    )
    group.add_argument("--license", help="the metadata's license field")
    group.add_argument("--author", default=AUTHOR, help="the metadata's author field")
    group.add_argument("--output", help="the .tflite file (default swiftformer_<model>_<mode>.tflite)")
    group.add_argument("--report", help="write the report as JSON here (default <name>.json beside the card)")
    group.add_argument(
        "--no-card",
        dest="card",
        action="store_false",
        help="write no model card <name>.md and report <name>.json beside the file",
    )


def _recipe(args):
    """The recipe for the mode and --min-runtime, with --float-ops added, --activation and
    --fp32-arithmetic if given."""
    if args.float_ops is None and args.activation is None and not args.fp32_arithmetic:
        return None  # the request picks it
    if args.float_ops is not None and args.mode != "int8":
        raise ValueError(f"--float-ops applies to --int8 files only; drop it for --{args.mode}.")
    if args.fp32_arithmetic and args.mode != "fp16":
        raise ValueError(f"--fp32-arithmetic applies to --fp16 files only; drop it for --{args.mode}.")
    recipe = recipe_for(args.mode, args.min_runtime)
    changes = {}
    if args.fp32_arithmetic:  # the fp32 recipe's norms too: its form keeps torch's clamp, at one op less
        changes = {"fp16_arithmetic": False, "reductions": recipe_for("fp32", args.min_runtime).reductions}
    if args.float_ops is not None:
        changes["float_ops"] = tuple(dict.fromkeys([*recipe.float_ops, *args.float_ops]))
    if args.activation is not None:
        changes["activation"] = args.activation
    return dataclasses.replace(recipe, **changes)


def request_from_args(args, command):
    """The `ConversionRequest` of the parsed flags (checked whole: a bad one raises ValueError).

    A flag whose destination is a field of the request sets that field; the
    others are translated here (`--model`, `--report`, `--float-ops` and
    `--activation`, `--classifier-activation none`). `command` is the command
    line as the card quotes it."""
    fields = {field.name for field in dataclasses.fields(ConversionRequest) if field.init}
    values = {name: value for name, value in vars(args).items() if name in fields}
    values.update(
        variant=args.model,
        report_path=args.report,
        recipe=_recipe(args),
        classifier_activation=None if args.classifier_activation == "none" else args.classifier_activation,
        command=command,
    )
    return ConversionRequest(**values)


def main(argv=None, prog=PROG, invocation=PROG):
    """The command line; returns the exit code (2 and one line on stderr for an expected failure).

    `prog` names the command in its messages, `invocation` starts the command
    line the card quotes (`conversion/to_tflite.py` passes its own).
    """
    return cli.run(lambda args: _main(args, prog, invocation), argv, prog=prog)


def _main(argv, prog, invocation):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv, prog)
    command = " ".join([invocation, *map(shlex.quote, argv)])
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # TFLite conversion runs on TensorFlow
    if args.keras_model is not None and keras_hub_kind(args.keras_model):
        with tempfile.TemporaryDirectory() as folder:
            args.keras_model = _flattened(args, folder)
            return _convert(request_from_args(args, command))
    return _convert(request_from_args(args, command))


def _flattened(args, folder):
    """The flat `.keras` file, in `folder`, of the KerasHub SwiftFormer `--keras-model` names (a preset
    folder or a KerasHub `.keras` file), named after it: the converter rewrites flat models only."""
    source = os.path.normpath(args.keras_model)
    if args.output is not None:  # the default output lies beside it, never inside
        files.check_not_inputs([("--output", args.output)], [("--keras-model", source)])
    cli.import_keras_hub(f"--keras-model {source!r}, a KerasHub SwiftFormer,")
    with cli.quiet_startup():
        from swiftformer_keras.presets.flat_models import write_flat_model
    name = os.path.basename(source).removesuffix(".keras") + ".keras"
    return write_flat_model(source, os.path.join(folder, name))


def _convert(request):
    with cli.quiet_startup():
        # TensorFlow loads here, after every flag and path is checked: --help and bad input answer at once.
        from swiftformer_keras.lite import pipeline, report
    result = pipeline.convert(request)
    print(report.markdown(result))
    print("\nwrote " + ", ".join(request.outputs().values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
