"""Benchmarks .tflite models with TensorFlow Lite's `benchmark_model` on Android phones (adb) or here.

    python android_bench/run.py --models a.tflite b.tflite --binary path/to/benchmark_model \\
        --delegates xnnpack,nnapi,gpu,cpu --threads 1,4 [--serial S ...] [--num-runs 50] \\
        [--warmup-runs 5] [--op-profiling] [--cpu-mask f0] [--timeout 300] [--host] \\
        [--output-dir DIR] [--adb PATH] [--tool tflite|litert]

`--tool` says which benchmark_model `--binary` is: "tflite" (default), TensorFlow Lite's
Interpreter-based tool (delegates xnnpack, nnapi, gpu, cpu), or "litert", LiteRT's
CompiledModel-based tool (litert/tools:benchmark_model; accelerators xnnpack, gpu, npu, the
default --delegates then). They take different flags for the same choice, see
android_bench/benchmark_model.py.

Android (default): every phone `adb devices` lists in state "device" (or only the `--serial`s given)
gets the binary and the models pushed to /data/local/tmp/, then one `benchmark_model` run per
(model, delegate, threads) through `adb shell`. `--host` runs the same matrix with `--binary` on
this machine (rows with source "host-binary").

Every cell of the matrix becomes one row of `android_bench/rows.py`'s table, measured or failed:
a missing adb, no phone, an unauthorized or offline phone, a missing binary or model, a failed
push, a run that times out, exits non-zero or whose delegate did not apply are all rows with
status "failed" and the reason, and the rest of the matrix still runs. When nothing could be
measured at all (no phone attached, adb missing) every cell still gets its failed row, so the
table has the same shape whatever happened and later tables can be compared cell by cell.
The exit code is 0 whenever the table was written; 2, with one line on stderr, for bad
arguments (every flag, --timeout up to a day among them) or an --output-dir that cannot be written or
would hold its result in place of a model or the binary (all found before any run), and for a
result that could not be written (after the table was printed; the older result stays whole).

Written to --output-dir: rows.json, rows.csv, rows.md (the results page: the date, the phones,
the command and the table) and rows.png (the chart, where a run was measured) as one result,
logs/<run>.log (each run's raw
output, for the failures a parser cannot explain) and, with --op-profiling, op_profiles/<run>.json.
A log or profile that cannot be written (a full disk) is noted in its row's reason and the
row is kept. Each run's file name is unique within the run, even for model names that differ
only in characters a file name cannot hold. The Markdown table goes to stdout, progress to stderr.

The flags passed to benchmark_model, and why: android_bench/benchmark_model.py. The matrix
itself is android_bench/matrix.py, the adb side android_bench/adb.py; this file is the command line.
"""

import argparse
import os
import re
import shlex
import sys

from android_bench import rows as table
from android_bench.benchmark_model import (
    DEFAULT_TIMEOUT,
    DEFAULT_TOOL,
    MAX_INT_FLAG,
    MAX_TIMEOUT,
    TOOL_DELEGATE_FLAGS,
    TOOLS,
)
from android_bench.matrix import log_to_stderr, run_matrix
from swiftformer_keras.utils import cli
from swiftformer_keras.utils.files import benchmark_result_paths, check_output_folder, check_output_paths

PROG = "android_bench/run.py"


def _csv_list(text, what):
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise argparse.ArgumentTypeError(f"--{what} is empty")
    return list(dict.fromkeys(items))  # drops repeats, keeps the order


def _thread_counts(text):
    counts = []
    for item in _csv_list(text, "threads"):
        if not re.fullmatch(r"[0-9]+", item) or not 0 < int(item) <= MAX_INT_FLAG:
            raise argparse.ArgumentTypeError(
                f"thread counts must be positive integers up to {MAX_INT_FLAG}, not {item!r}"
            )
        counts.append(int(item))
    return counts


def _parse_args(argv):
    parser = cli.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", required=True, help=".tflite files")
    parser.add_argument(
        "--binary", required=True, help="benchmark_model built for the phone (or for this machine with --host)"
    )
    parser.add_argument(
        "--tool",
        choices=TOOLS,
        default=DEFAULT_TOOL,
        help="which benchmark_model --binary is: tflite (Interpreter) or litert (CompiledModel)",
    )
    parser.add_argument(
        "--delegates",
        help="comma-separated; tflite: "
        + ",".join(TOOL_DELEGATE_FLAGS["tflite"])
        + " (the default), litert: "
        + ",".join(TOOL_DELEGATE_FLAGS["litert"])
        + " (the default)",
    )
    parser.add_argument("--threads", type=_thread_counts, default="1,4", help="comma-separated thread counts")
    parser.add_argument("--serial", nargs="+", action="extend", help="only these phones (default: every attached one)")
    parser.add_argument("--num-runs", type=cli.number(int, minimum=1, maximum=MAX_INT_FLAG), default=50)
    parser.add_argument("--warmup-runs", type=cli.number(int, minimum=0, maximum=MAX_INT_FLAG), default=5)
    parser.add_argument("--op-profiling", action="store_true", help="per-op timings (slows the runs down)")
    parser.add_argument("--cpu-mask", help="hex CPU mask for taskset, e.g. f0 (device-specific)")
    parser.add_argument(
        "--timeout",
        type=cli.number(float, above=0, maximum=MAX_TIMEOUT),
        default=DEFAULT_TIMEOUT,
        help="seconds per run (and per push)",
    )
    parser.add_argument("--host", action="store_true", help="run --binary on this machine instead of phones")
    parser.add_argument("--output-dir", default=os.path.join("benchmark_results", "android"))
    parser.add_argument("--adb", default="adb", help="adb command or path")
    args = parser.parse_args(argv)

    known = TOOL_DELEGATE_FLAGS[args.tool]
    if args.delegates is None:  # every delegate the tool has
        args.delegates = ",".join(known)
    try:
        delegates = [d.lower() for d in _csv_list(args.delegates, "delegates")]
    except argparse.ArgumentTypeError as error:
        parser.error(str(error))
    unknown = [d for d in delegates if d not in known]
    if unknown:
        parser.error(f"unknown delegate(s) {', '.join(unknown)}; choose from {', '.join(known)} (--tool {args.tool})")
    if args.cpu_mask is not None and not re.fullmatch(r"(0x)?[0-9a-fA-F]*[1-9a-fA-F][0-9a-fA-F]*", args.cpu_mask):
        parser.error(f"--cpu-mask must be a non-zero hex mask such as f0, not {args.cpu_mask!r}")
    if args.host and args.serial:
        parser.error("--serial picks phones; it has no meaning with --host")
    names = [os.path.basename(m) for m in args.models]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:  # they would overwrite each other in /data/local/tmp and share table rows
        parser.error(f"models with the same file name: {', '.join(repeated)}")
    args.delegates = delegates
    return args


def machine(rows, host):
    """The results page's "where": the phones measured (model, SoC, Android), or this host."""
    if host:
        return "this host's benchmark_model"

    def phone(row):
        android = row["android"] and f"Android {row['android']}"
        return " ".join(str(part) for part in (row["device_model"], row["soc"], android) if part)

    phones = dict.fromkeys(phone(row) for row in rows if row["device_model"])
    return "; ".join(phones) or "no phone measured"


def main(argv=None):
    """Runs the matrix, prints the Markdown table, writes the result (rows.json, .csv, .md, .png);
    returns the exit code.

    An expected failure is one line `android_bench/run.py: error: ...` and exit code 2.
    """
    return cli.run(_main, sys.argv[1:] if argv is None else list(argv), prog=PROG)


def _main(argv):
    try:
        args = _parse_args(argv)
    except SystemExit as exit:  # argparse's own errors (already printed) and --help
        return exit.code if isinstance(exit.code, int) else 2
    # Before the runs, which may take hours; no output may overwrite a model or the binary.
    inputs = [("--models", model) for model in args.models] + [("--binary", args.binary)]
    check_output_folder("--output-dir", args.output_dir, inputs=inputs)
    check_output_paths(*benchmark_result_paths(args.output_dir, "rows"), inputs=inputs)

    details = {}
    rows = run_matrix(
        args.models,
        args.delegates,
        args.threads,
        args.binary,
        num_runs=args.num_runs,
        warmup_runs=args.warmup_runs,
        op_profiling=args.op_profiling,
        cpu_mask=args.cpu_mask,
        host=args.host,
        serials=args.serial,
        adb=args.adb,
        timeout=args.timeout,
        output_dir=args.output_dir,
        details=details,
        tool=args.tool,
    )
    print(table.markdown(rows))
    flags = TOOL_DELEGATE_FLAGS[args.tool]
    settings = {
        "tool": args.tool,
        "num_runs": args.num_runs,
        "warmup_runs": args.warmup_runs,
        "threads": args.threads,
        "delegates": {d: list(flags[d]) for d in args.delegates},
        "timeout_s": args.timeout,
        "cpu_mask": args.cpu_mask,
        "op_profiling": args.op_profiling,
        "host": args.host,
    }
    devices = details.get("devices", [])
    command = shlex.join(["python", "android_bench/run.py", *argv])
    table.write_result(
        args.output_dir,
        "rows",
        rows,
        f"{args.tool} benchmark_model on {'this host' if args.host else 'Android'}",
        command,
        machine(rows, args.host),
        notes=(
            f"{args.num_runs} runs after {args.warmup_runs} warm-up runs per row;",
            "each row's raw output is in logs/ beside this page.",
        ),
        settings=settings,
        devices=devices,
        op_profiles=details.get("op_profiles", []),
    )
    failed = sum(row["status"] != "ok" for row in rows)
    log_to_stderr(f"{len(rows) - failed} of {len(rows)} runs measured; wrote its result in {args.output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
