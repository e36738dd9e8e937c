"""Our TFLite files on the runtimes in the field: loads or not, delegate partitions, latency.

    make runtimes        # .venv-tflite-runtime, .venv-tf-2.16, .venv-litert-1.4 beside .venv
    python conversion/runtime_matrix.py --variants XS S --calib-dir ../shared/data/imagenet-samples/images

For each variant and mode (fp32, fp16, dynamic, int8), converts the model with the
recipe of each `--min-runtimes` value (realistic random weights: latency does not
depend on them; `--keras-model FILE` takes your own SwiftFormer and its weights
instead), then runs every file on every runtime. Each runtime lives in its
own virtual environment made by the project, as a worker process
(`swiftformer_keras.lite.runtime_worker`) that loads all files once; the workers are
asked in turn, a few timed invokes per file per turn after a few untimed ones
(`interpreter.UNTIMED`: none is timed in the previous file's wake), until each
file has --runs timings: a shared machine's drifts hit every runtime alike.

Prints a Markdown table (median ms and XNNPACK partitions per runtime, or the
runtime's error for a file it refuses) and the int8/fp32 ratios per runtime, and
writes runtime_matrix.json, .csv, .png and .md (its results page) to --output-dir.

    python conversion/runtime_matrix.py --ops

asks instead which single ops (those SwiftFormer's recipes choose between, in
float and in int8) each runtime's XNNPACK delegate takes: one op per file, taken
when the file is one partition. Writes runtime_ops.json, .csv and .md (its results page).

Run it with .venv's Python: it converts with TensorFlow there. Every expected
failure (a bad value, a missing input or environment, an output that would
overwrite an input) is one line `conversion/runtime_matrix.py: error: ...` and
exit code 2; flags, inputs, environments and destinations are checked before
TensorFlow starts.
"""

import argparse
import importlib.util
import os
import shlex
import sys

# Light modules only: TensorFlow and Keras load in the functions that use them, after _main has
# checked every flag, so that --help and bad input answer at once.
import numpy as np
from tqdm import tqdm

from swiftformer_keras.lite import calibration
from swiftformer_keras.lite.interpreter import UNTIMED, cpu_name
from swiftformer_keras.lite.recipe import MODES, recipe_for
from swiftformer_keras.lite.report import op_table
from swiftformer_keras.lite.request import add_model_arguments
from swiftformer_keras.lite.runtime_versions import check_runtime_choice, min_runtime, parse_version
from swiftformer_keras.lite.runtime_worker import RuntimeProcess
from swiftformer_keras.models.architecture import check_image_size
from swiftformer_keras.utils import charts, cli, files
from swiftformer_keras.utils.tables import markdown_table, results_page

PROG = "conversion/runtime_matrix.py"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# (column, virtual environment beside the project, the runtime the worker is asked for), oldest first.
ENVIRONMENTS = (
    ("tflite-runtime-2.14", ".venv-tflite-runtime", "tflite-runtime"),
    ("tf-2.16", ".venv-tf-2.16", "tensorflow"),
    ("litert-1.4", ".venv-litert-1.4", "litert"),
    ("litert-2.3", ".venv", "litert"),
)
MIN_RUNTIMES = ("2.17", "2.14")
# The single ops --ops asks about: (name, function of a (1, 14, 14, 32) tensor of positive values).
OP_PROBES = (
    ("GELU", lambda tf, x: tf.nn.gelu(x, approximate=False)),
    ("LOGISTIC", lambda tf, x: tf.sigmoid(x)),
    ("MUL", lambda tf, x: x * x),
    ("SUM over channels", lambda tf, x: tf.reduce_sum(x, axis=-1, keepdims=True)),
    ("SUM over tokens", lambda tf, x: tf.reduce_sum(x, axis=(1, 2), keepdims=True)),
    ("MEAN over tokens", lambda tf, x: tf.reduce_mean(x, axis=(1, 2), keepdims=True)),
    (
        "SUM over tokens as TRANSPOSE + FULLY_CONNECTED",
        lambda tf, x: tf.matmul(
            tf.transpose(tf.reshape(x, (-1, PROBE_SHAPE[1] * PROBE_SHAPE[2], PROBE_SHAPE[3])), (0, 2, 1)),
            tf.ones((PROBE_SHAPE[1] * PROBE_SHAPE[2], 1)),
        ),
    ),
    (
        "SUM over tokens as H x W DEPTHWISE_CONV_2D",
        lambda tf, x: tf.nn.depthwise_conv2d(x, tf.ones((*PROBE_SHAPE[1:], 1)), (1, 1, 1, 1), "VALID"),
    ),
    ("CONV_2D 1x1, C -> 1", lambda tf, x: tf.nn.conv2d(x, tf.ones((1, 1, 32, 1)), 1, "VALID")),
    ("RSQRT", lambda tf, x: tf.math.rsqrt(x)),
    ("SQRT", lambda tf, x: tf.sqrt(x)),
    ("DIV", lambda tf, x: x / tf.reverse(x, axis=[3])),
    ("MAXIMUM", lambda tf, x: tf.maximum(x, 0.5)),
)
PROBE_SHAPE = (1, 14, 14, 32)
# The flags of the model matrix, which --ops does not read (argparse destinations).
MODEL_ONLY = (
    "variants",
    "keras_model",
    "input_size",
    "calib_dir",
    "calib_random",
    "num_calib",
    "min_runtimes",
    "runs",
    "per_turn",
)


def environment_python(folder):
    """The Python of a project environment, or a ValueError saying how to make it."""
    python = os.path.join(ROOT, folder, "bin", "python")
    if not os.path.isfile(os.path.join(ROOT, folder, ".installed")):
        raise ValueError(f"{folder} is not built: run `make runtimes` (Python <= 3.11), or leave it out with --envs.")
    return python


def random_models(variants, size):
    """`[(variant, model)]`: each variant with realistic random weights (latency does not depend on them)."""
    import keras

    from swiftformer_keras.applications import SwiftFormer
    from swiftformer_keras.models.random_init import randomize_weights

    models = []
    for variant in variants:
        keras.utils.set_random_seed(0)
        models.append(
            (variant, randomize_weights(SwiftFormer(variant, classifier_activation=None, input_shape=(*size, 3))))
        )
    return models


def model_file(folder, name, mode, min_runtime_version):
    """Where the `mode` file of the model `name` for `--min-runtimes` `min_runtime_version` is written."""
    return os.path.join(folder, f"swiftformer_{files.safe_name(name)}_{mode}_{min_runtime_version}.tflite")


def make_files(models, size, calib, folder, min_runtimes):
    """`{key: {variant, mode, min_runtime, path}}`: each mode's file per distinct recipe, for each
    `(name, Keras model)` of `models`."""
    from swiftformer_keras.lite import converter as export

    made = {}
    for variant, model in models:
        for mode in MODES:
            recipes = {}  # the same recipe makes the same file: one per recipe, named by its oldest runtime
            for version in sorted(min_runtimes, key=parse_version):
                recipes.setdefault(recipe_for(mode, version), version)
            for recipe, version in recipes.items():
                key = f"{variant} {mode} {version}"
                path = model_file(folder, variant, mode, version)
                export.export_tflite(
                    model,
                    path,
                    size,
                    mode=mode,
                    calibration=calib if mode == "int8" else None,
                    min_runtime=version,
                    recipe=recipe,
                )
                made[key] = {
                    "variant": variant,
                    "mode": mode,
                    "min_runtime": version,
                    "path": path,
                    "needs": min_runtime(path)["version"],
                    "default": recipe == recipe_for(mode),
                }
    return made


def run_matrix(made, environments, threads, runs, per_turn):
    """`{column: {"version", "files": {key: {loaded, partitions, error, ms}}}}`, timed in turns."""
    workers, results = {}, {}
    try:
        for column, folder, runtime in environments:
            workers[column] = RuntimeProcess(environment_python(folder), runtime, threads, cwd=ROOT)
            reply = workers[column].ask({"load": {key: entry["path"] for key, entry in made.items()}})
            results[column] = {"runtime": reply["runtime"], "version": reply["version"], "files": reply["files"]}
            for entry in results[column]["files"].values():
                entry["ms"] = []
        turns = -(-runs // per_turn)
        for _ in tqdm(range(turns), desc="runtime turns", unit="turn"):
            for column, worker in workers.items():
                for key, entry in results[column]["files"].items():
                    if entry["loaded"]:
                        entry["ms"] += worker.ask({"time": key, "runs": UNTIMED + per_turn})["ms"][UNTIMED:]
    finally:
        for worker in workers.values():
            worker.close()
    return results


def probe_files(folder):
    """`{(op, dtype): path}` of the files `make_probes` writes, in `OP_PROBES` order."""
    paths = {}
    for name, _ in OP_PROBES:
        for dtype in ("float32", "int8"):
            paths[(name, dtype)] = os.path.join(folder, f"probe_{name.split()[0].lower()}_{len(paths)}_{dtype}.tflite")
    return paths


def make_probes(folder):
    """`{key: {"op", "dtype", "path", "ops"}}`: one file per probe op, in float32 and in int8
    (int8 input and output, so that the op is alone)."""
    import tensorflow as tf

    from swiftformer_keras.lite import converter as export

    made = {}
    for (name, dtype), path in probe_files(folder).items():
        build = dict(OP_PROBES)[name]
        content = export.convert_op_graph(lambda x, build=build: build(tf, x), [PROBE_SHAPE], dtype)
        files.write_bytes_atomically(path, content)
        ops = [f"{row['op']}/{row['input_dtype']}" for row in op_table(path)]
        made[f"{name} {dtype}"] = {"op": name, "dtype": dtype, "path": path, "ops": ops}
    return made


def probe_rows(made, environments, threads):
    """One row per probe: whether each runtime loads it and its XNNPACK takes it (one partition)."""
    rows = [{"op": entry["op"], "dtype": entry["dtype"], "ops": " ".join(entry["ops"])} for entry in made.values()]
    for column, folder, runtime in environments:
        with RuntimeProcess(environment_python(folder), runtime, threads, cwd=ROOT) as worker:
            found = worker.ask({"load": {key: entry["path"] for key, entry in made.items()}})["files"]
        for row, key in zip(rows, made, strict=True):
            result = found[key]
            row[column] = ("yes" if result["partitions"] == 1 else "no") if result["loaded"] else "does not load"
    return rows


def probe_markdown(rows, columns):
    """A row per probe: whether each runtime (`columns`) loads it and its XNNPACK takes it."""
    return markdown_table(
        ["op", "dtype", "ops in the file", *columns],
        [[row["op"], row["dtype"], row["ops"], *(row[c] for c in columns)] for row in rows],
    )


def rows_of(made, results):
    rows = []
    for key, entry in made.items():
        row = {
            "variant": entry["variant"],
            "mode": entry["mode"],
            "min_runtime": entry["min_runtime"],
            "default": entry["default"],
            "needs": entry["needs"],
            "size_mb": os.path.getsize(entry["path"]) / 1e6,
        }
        for column, result in results.items():
            found = result["files"][key]
            row[f"{column} ms"] = float(np.median(found["ms"])) if found["loaded"] else None
            row[f"{column} partitions"] = found["partitions"]
            row[f"{column} error"] = found["error"]
        rows.append(row)
    return rows


def ratios(rows, columns):
    """Per variant, recipe (--min-runtime) and runtime: the int8 file over the fp32 file of the same
    recipe, and that fp32 file over the default fp32 file on the newest runtime (the last column)."""
    found, newest = [], columns[-1]
    for variant in dict.fromkeys(row["variant"] for row in rows):
        mine = {(row["mode"], row["min_runtime"]): row for row in rows if row["variant"] == variant}
        reference = next(row for row in mine.values() if row["mode"] == "fp32" and row["default"])[f"{newest} ms"]
        for version in dict.fromkeys(row["min_runtime"] for row in mine.values()):
            fp32, int8 = mine.get(("fp32", version)), mine.get(("int8", version))
            for column in columns:
                fp32_ms = fp32 and fp32[f"{column} ms"]
                int8_ms = int8 and int8[f"{column} ms"]
                found.append(
                    {
                        "variant": variant,
                        "min_runtime": version,
                        "runtime": column,
                        "int8_over_fp32": int8_ms / fp32_ms if int8_ms and fp32_ms else None,
                        "fp32_over_newest_default_fp32": fp32_ms / reference if fp32_ms and reference else None,
                    }
                )
    return found


def _cell(row, column):
    if row[f"{column} ms"] is None:
        return f"does not load: {row[f'{column} error']}"[:90]
    return f"{row[f'{column} ms']:.2f} ({row[f'{column} partitions']})"


def markdown(rows, found, columns):
    """The files (a row per variant, mode and recipe) on every runtime, then the `ratios` per runtime."""
    files_table = markdown_table(
        ["variant", "mode", "--min-runtime", "needs", "MB", *columns],
        [
            [
                row["variant"],
                row["mode"],
                f"{row['min_runtime']}{' (default)' if row['default'] else ''}",
                row["needs"],
                f"{row['size_mb']:.1f}",
                *(_cell(row, column) for column in columns),
            ]
            for row in rows
        ],
        align="llll" + "r" * (1 + len(columns)),
    )
    ratios_table = markdown_table(
        ["variant", "--min-runtime", "runtime", "int8 / fp32 (same recipe)", f"fp32 / default fp32 on {columns[-1]}"],
        [
            [
                item["variant"],
                item["min_runtime"],
                item["runtime"],
                *(
                    f"{item[k]:.2f}" if item[k] is not None else "-"
                    for k in ("int8_over_fp32", "fp32_over_newest_default_fp32")
                ),
            ]
            for item in found
        ],
        align="lllrr",
    )
    return f"{files_table}\n\nmedian ms (XNNPACK partitions)\n\n{ratios_table}"


def plot(rows, columns, path):
    groups = [f"{row['variant']}\n{row['mode']}\n{row['min_runtime']}" for row in rows]
    series = {column: [row[f"{column} ms"] for row in rows] for column in columns}
    charts.grouped_bars(
        path,
        groups,
        series,
        "median latency, ms (0: does not load)",
        "SwiftFormer TFLite files per runtime (XNNPACK, interleaved workers)",
        figsize=(12, 5),
    )


def parse_args(argv):
    parser = cli.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arguments(parser)
    calib = parser.add_mutually_exclusive_group()
    calib.add_argument("--calib-dir", help="real photos for int8 calibration")
    calib.add_argument("--calib-random", action="store_true", help="calibrate on noise (latency only)")
    parser.add_argument("--num-calib", type=cli.number(int, minimum=1), default=64)
    parser.add_argument(
        "--min-runtimes",
        nargs="+",
        type=cli.checked_by(check_runtime_choice),
        default=list(MIN_RUNTIMES),
        metavar="VERSION",
        help="the recipes to compare (default: %(default)s)",
    )
    parser.add_argument(
        "--envs",
        nargs="+",
        default=[column for column, _, _ in ENVIRONMENTS],
        choices=[column for column, _, _ in ENVIRONMENTS],
        metavar="ENV",
        help="runtimes, by column name (default: all)",
    )
    parser.add_argument("--threads", type=cli.number(int, minimum=1), default=2)
    parser.add_argument("--runs", type=cli.number(int, minimum=1), default=30)
    parser.add_argument("--per-turn", type=cli.number(int, minimum=1), default=3)
    parser.add_argument("--ops", action="store_true", help="which single ops each runtime's XNNPACK takes")
    parser.add_argument("--output-dir", default="runtime_matrix")
    args = parser.parse_args(argv)
    cli.check_no_repeats("--variants", args.variants)
    if args.input_size is not None:
        check_image_size(tuple(args.input_size))
    args.min_runtimes = list(dict.fromkeys(args.min_runtimes))
    if args.ops:
        ignored = [
            f"--{dest.replace('_', '-')}" for dest in MODEL_ONLY if getattr(args, dest) != parser.get_default(dest)
        ]
        if ignored:
            parser.error(f"--ops converts single ops, not a model: drop {', '.join(ignored)}")
    elif not args.calib_dir and not args.calib_random:
        parser.error("int8 needs --calib-dir DIR (or --calib-random for latency only)")
    return args


def check_tensorflow():
    """One line with the fix where this Python has no TensorFlow to convert with."""
    if importlib.util.find_spec("tensorflow") is None:  # .venv-tflite-runtime: its Keras has no backend
        raise ImportError(
            f"this Python ({sys.executable}) has no TensorFlow, which the matrix needs to convert the files: run "
            "it with .venv/bin/python; it starts each runtime's worker in that runtime's own environment."
        )


def check_inputs(args):
    """`(what, path)` of every input the run reads; ValueError for a missing one."""
    if args.keras_model is not None and not os.path.isfile(args.keras_model):
        raise ValueError(f"--keras-model {args.keras_model!r} does not exist or is not a file.")
    if args.calib_dir is not None:
        calibration.find_images(args.calib_dir)  # missing or empty: one line now, not after the models are built
    return [("--keras-model", args.keras_model), ("--calib-dir", args.calib_dir)]


def output_paths(args):
    """`(what, path)` of every file the run writes."""
    folder = args.output_dir
    if args.ops:
        written = [(f"the probe of {op} in {dtype}", path) for (op, dtype), path in probe_files(folder).items()]
        return written + files.benchmark_result_paths(folder, "runtime_ops", chart=False)
    names = [os.path.basename(args.keras_model)] if args.keras_model else args.variants
    written = [
        (f"the {mode} file of {name} for {version}", model_file(folder, name, mode, version))
        for name in names
        for mode in MODES
        for version in args.min_runtimes
    ]
    return written + files.benchmark_result_paths(folder, "runtime_matrix")


def main(argv=None):
    """The command line; every expected failure is one line on stderr and exit code 2."""
    return cli.run(_main, argv, prog=PROG)


def _main(argv):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    check_tensorflow()
    environments = [env for env in ENVIRONMENTS if env[0] in args.envs]
    for _, folder, _ in environments:
        environment_python(folder)  # a missing environment fails before the conversions
    inputs = check_inputs(args)
    files.check_output_folder("--output-dir", args.output_dir, inputs=inputs)
    files.check_output_paths(*output_paths(args), inputs=inputs)
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # TFLite conversion runs on TensorFlow
    with cli.quiet_startup():
        # TensorFlow loads here, after every flag and path is checked: --help and bad input answer at once.
        from swiftformer_keras.lite import pipeline as conversion
    columns = [column for column, _, _ in environments]
    command = " ".join(["python", PROG, *map(shlex.quote, argv)])
    if args.ops:
        rows = probe_rows(make_probes(args.output_dir), environments, args.threads)
        table = probe_markdown(rows, columns)
        print(table)
        page = results_page(
            "Which single ops each runtime's XNNPACK takes",
            command,
            f"{cpu_name(count=True)}, {args.threads} thread(s); " + ", ".join(columns),
            [("ops", table)],
            notes=(
                "One op per file, in float32 and in int8; yes: the runtime's default XNNPACK delegate took it",
                "(one partition); no: it stays on the builtin kernel and splits the graph.",
            ),
        )
        data = {"command": command, "rows": rows}
        files.write_benchmark_result(args.output_dir, "runtime_ops", data, rows, page)
        print(f"\nwrote {args.output_dir}/runtime_ops.json, .csv, .md")
        return 0
    if args.keras_model:
        model, size = conversion.load_keras_model(keras_model=args.keras_model, input_size=args.input_size)
        models = [(os.path.basename(args.keras_model), model)]
    else:
        size = tuple(args.input_size or (224, 224))
        models = random_models(args.variants, size)
    if args.calib_dir:
        calib, _ = calibration.sample_images(args.calib_dir, args.num_calib, size, progress="calibration images")
    else:
        calib = calibration.random_images(args.num_calib, size, 0)
    made = make_files(models, size, calib, args.output_dir, args.min_runtimes)
    results = run_matrix(made, environments, args.threads, args.runs, args.per_turn)
    rows = rows_of(made, results)
    found = ratios(rows, columns)
    table = markdown(rows, found, columns)
    print(table)
    versions = {column: f"{result['runtime']} {result['version']}" for column, result in results.items()}
    data = {"command": command, "threads": args.threads, "runs": args.runs, "runtimes": versions, "rows": rows}
    data["ratios"] = found
    page = results_page(
        "Our files on every runtime",
        command,
        f"{cpu_name(count=True)}, {args.threads} thread(s); " + ", ".join(versions.values()),
        [("matrix", table)],
        chart="runtime_matrix.png",
        notes=("Medians of interleaved turns, one worker process per runtime's environment; x86 timings.",),
    )
    files.write_benchmark_result(
        args.output_dir, "runtime_matrix", data, rows, page, plot=lambda temp: plot(rows, columns, temp)
    )
    print(f"\nwrote {args.output_dir}/runtime_matrix.json, .csv, .png, .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
