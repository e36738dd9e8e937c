"""Latency of SwiftFormer TFLite files in fp32, fp16, dynamic and int8, side by side.

    python conversion/benchmark.py --variants XS S --calib-dir ../shared/data/imagenet-samples/images

For each variant: builds the model (realistic random weights unless --weights;
--keras-model FILE takes your own SwiftFormer and its weights instead),
converts it in every mode, checks fp32 against Keras, then times all files in
one interleaved loop (turns of a few invokes per file whose first ones are not
timed, `interpreter.BLOCK`; default XNNPACK delegate, --threads threads), so that
the machine's noise hits every mode alike and no file is timed in another's wake.
--profile then records the fp32 and int8 files under `perf`
(`swiftformer_keras.lite.kernel_profile`): the share of time per kind of XNNPACK
micro-kernel, and how far int8 is from its limits (the GEMM-only time of that
profile, and the time of its multiply-adds at the VNNI and AMX peaks).
--runtime litert|tflite-runtime|tensorflow|litert-compiled picks the TFLite
interpreter of the timings, partition counts and checks (default: the first
installed); the JSON records it. litert-compiled, LiteRT's CompiledModel API,
lists no nodes: its partitions are n/a (null in the JSON). Prints a Markdown
table of medians and int8/fp32 ratios, and writes benchmark.json,
benchmark.csv, benchmark.png and benchmark.md (the results page: when, where,
the command, the tables and the chart; docs/benchmarks/ holds such pages) to
--output-dir, together.

Weights do not change the latency of a float model; for int8 they change the
calibrated ranges only, which does not change the kernels XNNPACK picks.

The benchmark converts with TensorFlow, so it runs in .venv (a Python without
TensorFlow, such as .venv-tflite-runtime's, is told so in one line);
conversion/runtime_matrix.py times the files on tflite-runtime 2.14 and the
other runtimes, each in its own environment. Every expected failure (a bad
value, a missing input, an output that would overwrite an input, a full disk)
is one line `conversion/benchmark.py: error: ...` and exit code 2; flags,
inputs and destinations are checked before TensorFlow starts.
"""

import argparse
import importlib.util
import os
import shlex
import sys

# Light modules only: TensorFlow and Keras load in the functions that use them, after _main has
# checked every flag, so that --help and bad input answer at once.
import numpy as np

from swiftformer_keras.lite import calibration, kernel_profile
from swiftformer_keras.lite import report as tflite_report
from swiftformer_keras.lite.interpreter import (
    RUNTIMES,
    count_partitions,
    cpu_flags,
    cpu_mhz,
    cpu_name,
    make_interpreter,
    runtime_version,
    time_interleaved,
)
from swiftformer_keras.lite.predictor import tflite_runner
from swiftformer_keras.lite.request import add_model_arguments
from swiftformer_keras.models.architecture import check_image_size
from swiftformer_keras.utils import charts, cli, files
from swiftformer_keras.utils.tables import markdown_table, results_page
from swiftformer_keras.weights.published import weight_source

PROG = "conversion/benchmark.py"
MODES = ("fp32", "fp16", "dynamic", "int8")
# An AVX-512 VNNI core retires two VPDPBUSD per cycle: 2 x 64 int8 multiply-adds. An AMX core's
# tile unit does 1024 int8 multiply-adds per cycle (a 16x64 by 64x16 TDPBSSD every 16 cycles).
VNNI_MACS_PER_CYCLE = 128
AMX_MACS_PER_CYCLE = 1024
PROFILED_MODES = ("fp32", "int8")
DEFAULT_PROFILE_RUNS = 300


def time_files(paths, threads, runs, warmup, runtime=None):
    """`{name: [ms per invoke]}`, all files timed round-robin in one loop, in turns whose first
    invokes are not timed (`interpreter.BLOCK`), with the TFLite `runtime` (None: the first installed)."""
    invokes = {}
    for name, path in paths.items():
        interpreter = make_interpreter(model_path=path, num_threads=threads, runtime=runtime)
        detail = interpreter.get_input_details()[0]
        interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
        invokes[name] = interpreter.invoke
    return time_interleaved(invokes, runs, warmup, progress=True)


def xnnpack_partitions(path, runtime=None):
    """How many partitions the default XNNPACK delegate of `runtime` splits the file into;
    None where the runtime cannot tell (litert-compiled)."""
    return count_partitions(make_interpreter(model_path=path, runtime=runtime))[0]


def variant_model(variant, size, weights=None):
    """SwiftFormer `variant` with `weights`, else realistic random ones, logits out."""
    from swiftformer_keras.applications import SwiftFormer
    from swiftformer_keras.models.random_init import randomize_weights

    if weights:
        return SwiftFormer(variant, weights=weights, classifier_activation=None, input_shape=(*size, 3))
    return randomize_weights(SwiftFormer(variant, classifier_activation=None, input_shape=(*size, 3)))


def tflite_path(folder, name, mode):
    """Where the `mode` file of the model `name` (a variant, or a .keras file's name) is written."""
    return os.path.join(folder, f"swiftformer_{files.safe_name(name)}_{mode}.tflite")


def benchmark_variant(variant, model, size, calib, folder, threads, runs, warmup, runtime=None, profile_runs=0):
    """Rows (one per mode) and checks of the Keras `model`, named `variant` in the tables."""
    import keras

    from swiftformer_keras.lite import converter as export
    from swiftformer_keras.models.builders import count_macs

    paths = {}
    for mode in MODES:
        paths[mode] = tflite_path(folder, variant, mode)
        export.export_tflite(model, paths[mode], size, mode=mode, calibration=calib if mode == "int8" else None)
    probe = calib[:4]
    reference = keras.ops.convert_to_numpy(model(probe, training=False))
    fp32_diff = float(np.abs(tflite_runner(paths["fp32"], runtime=runtime)(probe) - reference).max())
    fp16 = tflite_report.fidelity(reference, tflite_runner(paths["fp16"], runtime=runtime)(probe))
    times = time_files(paths, threads, runs, warmup, runtime)
    macs = count_macs(model)
    rows = []
    for mode in MODES:
        ms = np.asarray(times[mode])
        rows.append(
            {
                "variant": variant,
                "mode": mode,
                "size_mb": os.path.getsize(paths[mode]) / 1e6,
                "xnnpack_partitions": xnnpack_partitions(paths[mode], runtime),
                "median_ms": float(np.median(ms)),
                "p5_ms": float(np.percentile(ms, 5)),
                "p95_ms": float(np.percentile(ms, 95)),
                "gmac_per_s": macs / 1e9 / (float(np.median(ms)) / 1000),
            }
        )
    fp32 = rows[0]
    for row in rows:
        row["latency_vs_fp32"] = row["median_ms"] / fp32["median_ms"]
        row["size_vs_fp32"] = row["size_mb"] / fp32["size_mb"]
    checks = {
        "variant": variant,
        "gmacs": macs / 1e9,
        "fp32_max_abs_diff_vs_keras": fp32_diff,
        "logit_std": float(reference.std()),
        "fp16_relative_error_max": fp16["relative_error_max"],
    }
    if profile_runs:
        checks["profiles"] = {
            mode: kernel_profile.record(paths[mode], threads, profile_runs, runtime=runtime) for mode in PROFILED_MODES
        }
    return rows, checks


def vnni_floor_ms(macs, threads, macs_per_cycle=VNNI_MACS_PER_CYCLE):
    """The time `macs` int8 multiply-adds take at the VNNI peak (or another `macs_per_cycle`)
    of `threads` cores (None: clock unknown)."""
    mhz = cpu_mhz()
    if mhz is None:
        return None
    return macs / (threads * mhz * 1e6 * macs_per_cycle) * 1000


def amx_floor_ms(macs, threads):
    """`vnni_floor_ms` at the AMX peak, on CPUs with AMX int8 (None elsewhere)."""
    return vnni_floor_ms(macs, threads, AMX_MACS_PER_CYCLE) if "amx_int8" in cpu_flags() else None


def _ms(value):
    return "n/a" if value is None else f"{value:.2f}"


def profile_markdown(rows, checks, threads):
    """Where the time goes per profiled file (named `profile-<variant>-<mode>`), then `floors`:
    int8's distance to its limits, per variant."""
    sections, limits = [], []
    for check in checks:
        profiles = check.get("profiles")
        if not profiles:
            continue
        variant = check["variant"]
        for mode, profile in profiles.items():
            sections.append(
                (f"profile-{variant}-{mode}", kernel_profile.markdown(profile, f"SwiftFormer-{variant} {mode}"))
            )
        (int8,) = (r for r in rows if r["variant"] == variant and r["mode"] == "int8")
        gemm = profiles["int8"]["kinds"].get(kernel_profile.GEMM, {"share": 0.0})["share"]
        macs = check["gmacs"] * 1e9
        limits.append(
            [
                variant,
                f"{int8['median_ms']:.2f}",
                f"{int8['latency_vs_fp32']:.2f}",
                f"{gemm:.0%}",
                f"{gemm * int8['median_ms']:.2f}",
                f"{(1 - gemm) * int8['median_ms']:.2f}",
                _ms(vnni_floor_ms(macs, threads)),
                _ms(amx_floor_ms(macs, threads)),
            ]
        )
    header = [
        "variant",
        "int8 median ms",
        "int8 / fp32",
        "GEMM share of int8",
        "GEMM-only ms",
        "non-GEMM ms",
        "VNNI floor ms",
        "AMX floor ms",
    ]
    return [*sections, ("floors", markdown_table(header, limits, align="l" + "r" * 7))]


def markdown(rows, checks, threads):
    """The results page's named tables: `latency` (a row per variant and mode), then `checks` (each
    variant's files against Keras)."""
    latency = markdown_table(
        [
            "variant",
            "mode",
            "size MB",
            "size / fp32",
            "XNNPACK partitions",
            "median ms",
            "p5-p95 ms",
            "latency / fp32",
            "GMAC/s",
        ],
        [
            [
                r["variant"],
                r["mode"],
                f"{r['size_mb']:.2f}",
                f"{r['size_vs_fp32']:.2f}",
                "n/a" if r["xnnpack_partitions"] is None else r["xnnpack_partitions"],
                f"{r['median_ms']:.2f}",
                f"{r['p5_ms']:.2f}-{r['p95_ms']:.2f}",
                f"{r['latency_vs_fp32']:.2f}",
                f"{r['gmac_per_s']:.0f}",
            ]
            for r in rows
        ],
        align="ll" + "r" * 7,
    )
    fidelity = markdown_table(
        ["variant", "GMACs", "fp32 max abs diff vs Keras (logit std)", "fp16 relative error max", "int8 VNNI floor ms"],
        [
            [
                c["variant"],
                f"{c['gmacs']:.2f}",
                f"{c['fp32_max_abs_diff_vs_keras']:.1e} ({c['logit_std']:.1f})",
                f"{c['fp16_relative_error_max']:.1e}",
                _ms(vnni_floor_ms(c["gmacs"] * 1e9, threads)),
            ]
            for c in checks
        ],
        align="l" + "r" * 4,
    )
    return [("latency", latency), ("checks", fidelity)]


def plot(rows, path):
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    series = {
        mode: [next(r["median_ms"] for r in rows if r["variant"] == v and r["mode"] == mode) for v in variants]
        for mode in MODES
    }
    charts.grouped_bars(
        path,
        [f"SwiftFormer-{v}" for v in variants],
        series,
        "median latency, ms",
        "TFLite, XNNPACK, interleaved runs",
        figsize=(7, 4),
    )


def parse_args(argv):
    parser = cli.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arguments(parser)
    parser.add_argument(
        "--weights",
        help="imagenet, imagenet_timm, imagenet_mbzuai or a weights path (default: realistic random weights)",
    )
    parser.add_argument("--calib-dir", required=True, help="real photos for int8 calibration")
    parser.add_argument("--num-calib", type=cli.number(int, minimum=1), default=100)
    parser.add_argument("--threads", type=cli.number(int, minimum=1), default=2)
    parser.add_argument("--runs", type=cli.number(int, minimum=1), default=100, help="timed invokes per file")
    parser.add_argument("--warmup", type=cli.number(int, minimum=0), default=10, help="untimed invokes per file first")
    parser.add_argument("--output-dir", default="benchmark_results")
    parser.add_argument(
        "--runtime",
        choices=RUNTIMES,
        help="TFLite interpreter (default: the first installed); litert-compiled: LiteRT's CompiledModel API",
    )
    parser.add_argument(
        "--profile", action="store_true", help="also profile the fp32 and int8 files by XNNPACK micro-kernel under perf"
    )
    parser.add_argument(
        "--profile-runs",
        type=cli.number(int, minimum=1),
        help=f"with --profile: invokes sampled per profiled file (default {DEFAULT_PROFILE_RUNS})",
    )
    args = parser.parse_args(argv)
    cli.check_no_repeats("--variants", args.variants)
    if args.input_size is not None:
        check_image_size(tuple(args.input_size))
    if args.keras_model is not None and args.weights is not None:
        parser.error(f"--weights {args.weights!r} is for --variants; the --keras-model file carries its own weights")
    if args.profile_runs is not None and not args.profile:
        parser.error("--profile-runs applies with --profile only; add --profile or drop it")
    args.profile_runs = (args.profile_runs or DEFAULT_PROFILE_RUNS) if args.profile else 0
    return args


def check_environment(runtime):
    """`"name version"` of the TFLite `runtime` the timings use; one line with the fix where this
    Python cannot run the benchmark."""
    if importlib.util.find_spec("tensorflow") is None:  # .venv-tflite-runtime: its Keras has no backend
        raise ImportError(
            f"this Python ({sys.executable}) has no TensorFlow, which the benchmark needs to convert each model "
            "to .tflite: run it with .venv/bin/python. To time the files on tflite-runtime 2.14, run "
            "conversion/runtime_matrix.py with .venv/bin/python: it times each runtime in its own environment."
        )
    if runtime == "tflite-runtime" and importlib.util.find_spec("tflite_runtime") is None:
        # The environment that has it has no TensorFlow: the usual advice (use its Python) cannot help here.
        raise ImportError(
            f"tflite-runtime is not installed in this Python ({sys.executable}), and the benchmark cannot run "
            "where it is (.venv-tflite-runtime has no TensorFlow to convert with): time the files on it with "
            "conversion/runtime_matrix.py --envs tflite-runtime-2.14 litert-2.3 (after "
            "`make .venv-tflite-runtime/.installed`), or drop --runtime."
        )
    with cli.quiet_startup():  # --runtime tensorflow loads TensorFlow
        return " ".join(runtime_version(runtime))


def check_inputs(args):
    """`(what, path)` of every input the run reads; ValueError for a missing one."""
    if args.keras_model is not None and not os.path.isfile(args.keras_model):
        raise ValueError(f"--keras-model {args.keras_model!r} does not exist or is not a file.")
    weights_file = args.weights if args.weights is not None and weight_source(args.weights) is None else None
    if weights_file is not None and not os.path.isfile(weights_file):
        raise ValueError(
            f"--weights {weights_file!r} does not exist; give imagenet (or another published name) or a weights file, "
            "or leave it out for realistic random weights."
        )
    calibration.find_images(args.calib_dir)  # missing or empty: one line now, not after the models are built
    return [("--keras-model", args.keras_model), ("--weights", weights_file), ("--calib-dir", args.calib_dir)]


def output_paths(args):
    """`(what, path)` of every file the run writes."""
    names = [os.path.basename(args.keras_model)] if args.keras_model else args.variants
    written = [
        (f"the {mode} file of {name}", tflite_path(args.output_dir, name, mode)) for name in names for mode in MODES
    ]
    return written + files.benchmark_result_paths(args.output_dir, "benchmark")


def main(argv=None):
    """The command line; every expected failure is one line on stderr and exit code 2."""
    return cli.run(_main, argv, prog=PROG)


def _main(argv):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    runtime = check_environment(args.runtime)
    if args.profile:
        kernel_profile.find_perf()  # missing: one line and exit 2, before any work
    inputs = check_inputs(args)
    files.check_output_folder("--output-dir", args.output_dir, inputs=inputs)
    files.check_output_paths(*output_paths(args), inputs=inputs)
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # TFLite conversion runs on TensorFlow
    with cli.quiet_startup():
        # TensorFlow loads here, after every flag and path is checked: --help and bad input answer at once.
        from swiftformer_keras.lite import pipeline as conversion
    if args.keras_model:
        model, size = conversion.load_keras_model(keras_model=args.keras_model, input_size=args.input_size)
        models = [(os.path.basename(args.keras_model), lambda: model)]
    else:
        size = tuple(args.input_size or (224, 224))
        models = [
            (variant, lambda variant=variant: variant_model(variant, size, args.weights)) for variant in args.variants
        ]
    calib, _ = calibration.sample_images(args.calib_dir, args.num_calib, size, progress="calibration images")
    rows, checks = [], []
    for name, build in models:  # built one at a time: L3 and XS need not be in memory together
        variant_rows, variant_checks = benchmark_variant(
            name,
            build(),
            size,
            calib,
            args.output_dir,
            args.threads,
            args.runs,
            args.warmup,
            args.runtime,
            profile_runs=args.profile_runs,
        )
        rows += variant_rows
        checks.append(variant_checks)
    sections = markdown(rows, checks, args.threads)
    if args.profile:
        sections += profile_markdown(rows, checks, args.threads)
    print("\n\n".join(block for _, block in sections))
    print(f"\nTFLite runtime: {runtime}")
    command = " ".join(["python", PROG, *map(shlex.quote, argv)])
    page = results_page(
        "Latency of the four modes on this host",
        command,
        f"{cpu_name(count=True)}, {runtime}, {args.threads} thread(s)",
        sections,
        chart="benchmark.png",
        notes=(
            "Medians of interleaved turns (every file hit by the same noise); x86 timings, not a phone's:",
            "the ARM64 pages count the kernels phones run.",
        ),
    )
    result = {
        "command": command,
        "runtime": runtime,
        "threads": args.threads,
        "runs": args.runs,
        "rows": rows,
        "checks": checks,
    }

    files.write_benchmark_result(args.output_dir, "benchmark", result, rows, page, plot=lambda temp: plot(rows, temp))
    print(f"\nwrote {args.output_dir}/benchmark.json, .csv, .png, .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
