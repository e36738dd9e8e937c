"""Compile a .tflite file for phone NPUs ahead of time, check it on Qualcomm's HTP emulator, pack it for Play.

    python conversion/to_npu.py xs_int8.tflite --npu qualcomm:all --output-dir xs_int8_npu
    python conversion/to_npu.py xs_int8.tflite --npu qualcomm:SM8650,SM8750 --images photos/ --num 200 \\
        --model XS --weights imagenet --ai-pack swiftformer_xs

Per target (VENDOR:SOC[,SOC...] or VENDOR:all; vendors qualcomm, mediatek, google_tensor,
intel_openvino, samsung) LiteRT's AOT compiler writes <stem>_<target>.tflite, whose NPU partitions
LiteRT's CompiledModel runs on that SoC. A target that does not compile is a row with the
compiler's reason, not a failure. --images runs --num photos through the file in LiteRT's CPU
interpreter and through the compiled files of the --emulate SoCs on Qualcomm's HTP emulator,
against the Keras model (--model/--weights or --keras-model) or else the CPU interpreter: top-1
agreement, SQNR, and with a folder per class, top-1 accuracy. --ai-pack NAME also writes ai_pack/,
the compiled files and the CPU file as an AI Pack for Play for On-device AI.

--output-dir receives the compiled files, npu.json (the report), npu.csv (one row per target)
and npu.md (the card), with ai_pack/: one result, replacing an earlier one only when all is done.
"""

import argparse
import os
import shlex
import sys

from tqdm import tqdm

from swiftformer_keras import __version__
from swiftformer_keras.lite import ai_pack, npu, npu_report
from swiftformer_keras.lite.calibration import class_labels, find_images, sample_images
from swiftformer_keras.lite.interpreter import runtime_version
from swiftformer_keras.lite.metadata import read_metadata
from swiftformer_keras.lite.predictor import TFLitePredictor
from swiftformer_keras.lite.runtime_versions import model_root
from swiftformer_keras.utils import cli, files
from swiftformer_keras.weights.published import crop_pct_for

PROG = "conversion/to_npu.py"
REPORT = "npu.json"
DEFAULT_EMULATED = ("SM8650", "SM8750")


def parse_args(argv):
    parser = cli.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", metavar="FILE", help="the .tflite file to compile (to_tflite.py's output)")
    parser.add_argument(
        "--npu", action="append", required=True, metavar="VENDOR:SOCS", help="targets, e.g. qualcomm:all (repeatable)"
    )
    parser.add_argument("--output-dir", required=True, help="the result's folder (new, empty, or an earlier result)")
    parser.add_argument("--images", metavar="DIR", help="photos to check the compiled files on (recursive)")
    parser.add_argument("--num", type=cli.number(int, minimum=1), default=200, help="how many of --images")
    parser.add_argument(
        "--emulate",
        nargs="+",
        default=list(DEFAULT_EMULATED),
        metavar="SOC",
        help=f"Qualcomm SoCs whose files run on the HTP emulator (default: {' '.join(DEFAULT_EMULATED)})",
    )
    reference = parser.add_mutually_exclusive_group()
    reference.add_argument("--model", metavar="VARIANT", help="the Keras reference: XS, S, L1 or L3 (with --weights)")
    reference.add_argument("--keras-model", metavar="FILE", help="the Keras reference: a .keras file")
    parser.add_argument("--weights", default="imagenet", help="the --model reference's weights (default: imagenet)")
    parser.add_argument("--ai-pack", metavar="NAME", help="also write ai_pack/, an AI Pack of this name")
    parser.add_argument(
        "--crop-pct",
        type=cli.number(float, above=0, maximum=1),
        help="center crop of --images (default: the one a --keras-model records, or the --weights' own, else 0.875)",
    )
    parser.add_argument("--seed", type=cli.number(int, minimum=0), default=0, help="which --images are drawn")
    args = parser.parse_args(argv)
    cli.check_no_repeats("--emulate", args.emulate)
    return args


def _reference(args, images, output_kind):
    """The Keras model's scores for `images` (softmax where the file gives probabilities) and its name."""
    if args.model is None and args.keras_model is None:
        return None, "LiteRT's CPU interpreter on the same file"
    keras = cli.import_keras("--model/--keras-model (the Keras reference)")
    from swiftformer_keras.lite.pipeline import load_keras_model

    model, _ = load_keras_model(args.model or "XS", args.keras_model, args.weights, images.shape[1:3])
    logits = model.predict(images, batch_size=16, verbose=0)
    scores = keras.ops.convert_to_numpy(keras.ops.softmax(logits)) if output_kind == "probabilities" else logits
    name = os.path.basename(args.keras_model) if args.keras_model else f"SwiftFormer-{args.model.upper()}"
    return scores, f"the Keras model ({name}{'' if args.keras_model else ', weights ' + str(args.weights)})"


def _crop_pct(args):
    """--crop-pct, else the crop the reference expects: a --keras-model's record, --weights' own
    (a published source's, a weights file's record), else ImageNet's."""
    return crop_pct_for(args.crop_pct, args.keras_model, args.weights if args.model else None)


def _fidelity(args, rows, folder, output):
    """`report["fidelity"]`: the CPU interpreter and the --emulate SoCs' files on --num photos;
    `output` is the file's output metadata (its labels and name)."""
    predictor = TFLitePredictor(args.source)
    images, info = sample_images(
        args.images,
        args.num,
        predictor.image_size,
        _crop_pct(args),
        seed=args.seed,
        progress="photos",
    )
    labels = class_labels(info["paths"], args.images, output.get("labels"), predictor.num_classes)
    reference, reference_name = _reference(args, images, output.get("name"))
    emulated = {
        f"{row['target']} ({row['htp_arch']})": os.path.join(folder, row["file"])
        for row in rows
        if row["compiled"] and row["vendor"] == "qualcomm" and row["soc"] in args.emulate
    }
    return {
        "images": {"folder": args.images, "used": info["used"], "labelled": labels is not None},
        "reference": reference_name,
        "rows": npu_report.emulated_fidelity(args.source, emulated, images, labels, reference),
    }


def _main(argv):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    targets = npu.parse_targets(args.npu)
    emulate = npu.parse_targets([f"qualcomm:{','.join(args.emulate)}"])  # a bad SoC name fails here
    args.emulate = [target.soc for target in emulate]
    if not os.path.isfile(args.source):
        raise ValueError(f"{args.source!r} does not exist or is not a file; give a .tflite file.")
    with open(args.source, "rb") as file:
        try:
            model_root(file.read())
        except ValueError as error:
            raise ValueError(f"{args.source!r} is not a .tflite file: {error} Give one to_tflite.py wrote.") from None
    if args.images is not None:
        find_images(args.images)  # missing or empty: one line now
    if args.ai_pack is not None:
        ai_pack.check_name("--ai-pack", args.ai_pack)
    inputs = [("the file", args.source)]
    inputs += [("--images", args.images)] if args.images else []
    inputs += [("--keras-model", args.keras_model)] if args.keras_model else []
    files.check_not_inputs([("--output-dir", args.output_dir)], inputs)
    files.check_replaceable("--output-dir", args.output_dir, REPORT)
    parent = os.path.dirname(os.path.abspath(args.output_dir))
    if not os.path.isdir(parent):
        raise ValueError(f"--output-dir {args.output_dir!r}: the folder {parent!r} does not exist; create it first.")
    for vendor in dict.fromkeys(target.vendor for target in targets):
        npu.check_vendor(vendor)
    command = " ".join(["python", PROG, *map(shlex.quote, argv)])
    described = read_metadata(args.source) or {}
    file_input, file_output = described.get("input") or {}, described.get("output") or {}
    with files.output_lock(args.output_dir, "--output-dir"), files.partial_folder(args.output_dir) as folder:
        with tqdm(total=len(targets), desc="compiling", unit="target") as bar:
            rows = npu.compile_for_npu(args.source, targets, folder, progress=lambda row: bar.update(1))
        report = {
            "source": os.path.basename(args.source),
            "source_bytes": os.path.getsize(args.source),
            "litert": runtime_version("litert")[1],
            "swiftformer_keras": __version__,
            "input": file_input.get("name") or "the input",
            "output": file_output.get("name") or "the output",
            "targets": rows,
            "command": command,
        }
        if args.images is not None:
            report["fidelity"] = _fidelity(args, rows, folder, file_output)
        if args.ai_pack is not None:
            compiled = {row["target"]: os.path.join(folder, row["file"]) for row in rows if row["compiled"]}
            pack_folder = os.path.join(folder, "ai_pack")
            report["ai_pack"] = ai_pack.export_ai_pack(args.source, compiled, pack_folder, args.ai_pack)
        files.write_json_atomically(os.path.join(folder, REPORT), report)
        files.write_csv_atomically(os.path.join(folder, "npu.csv"), [_csv_row(row) for row in rows])
        card = npu_report.npu_card(report)
        files.write_text_atomically(os.path.join(folder, "npu.md"), card)
        files.replace_folder(folder, args.output_dir, REPORT, "--output-dir")
    print(card)
    compiled_count = sum(row["compiled"] for row in rows)
    print(f"wrote {args.output_dir}/ ({compiled_count} compiled files, {REPORT}, npu.csv, npu.md)")
    return 0


def _csv_row(row):
    keys = ("target", "vendor", "soc", "htp_arch", "compiled", "npu_ops", "ops", "partitions", "cpu_ops", "bytes")
    return {key: row.get(key) for key in (*keys, "seconds", "compiler", "reason", "file")}


def main(argv=None):
    """The command line; returns the exit code (2 and one line on stderr for an expected failure)."""
    return cli.run(_main, argv, prog=PROG)


if __name__ == "__main__":
    sys.exit(main())
