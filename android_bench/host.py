"""The Android columns on this machine, through the LiteRT Python interpreter.

    python android_bench/host.py --models xs_fp32.tflite xs_int8.tflite --threads 1,2 --delegates xnnpack,none

Each (model, delegate, threads) runs in a fresh child process, as benchmark_model
would: init (interpreter + allocate), first inference, --warmup runs, then
--runs timed runs (median, p5/p95, mean, std, min, max), and the peak RSS the
model added to the process (its peak resident set minus what the process held
before loading the model, the analogue of benchmark_model's footprint delta).
`xnnpack` is LiteRT's default CPU delegate; `none` the builtin kernels alone.
--runtime litert|tflite-runtime|tensorflow|litert-compiled picks the TFLite interpreter
(default: the first installed, `swiftformer_keras.lite.interpreter.RUNTIMES`); every row
records the one used and its version ("litert 2.3.0"). litert-compiled is the same wheel's
CompiledModel API: its rows leave `partitions` empty and say why (it lists no nodes), and
it runs `none` on one thread only (a failed row for more). A runtime this Python lacks is
one line and exit code 2: run the script with the Python of an environment that
has it (`make runtimes`).

Written to --output-dir as one result: host.json, host.csv, host.md (the results page: the
date, this machine, the command and the table) and host.png (the chart). Bad flags, and an
--output-dir that cannot be written or whose files would replace a model, are refused before
any run, in one line and exit code 2; a result that cannot be written (a full disk) ends,
after the table was printed, in one line `android_bench/host.py: error: ...` and exit code 2,
and leaves the older result whole.
"""

import argparse
import json
import os
import platform
import resource
import shlex
import subprocess
import sys
import time
import traceback

import numpy as np
from tqdm import tqdm

from android_bench import rows as rows_lib
from android_bench.commands import python_module_command
from swiftformer_keras.lite.interpreter import (
    RUNTIMES,
    count_partitions,
    cpu_name,
    make_interpreter,
    runtime_version,
    time_interleaved,
)
from swiftformer_keras.utils import cli
from swiftformer_keras.utils.files import benchmark_result_paths, check_output_folder, check_output_paths

PROG = "android_bench/host.py"

DELEGATES = ("xnnpack", "none")
CHILD_TIMEOUT_S = 600
# The interpreter takes its thread count as a C++ int.
MAX_THREADS = 2**31 - 1
AUTOMATIC = "auto"  # the child's argument for runtime=None
# The reason of a row whose runtime cannot tell its partitions (litert-compiled): empty is not zero.
NO_PARTITIONS = "partitions unknown: LiteRT's CompiledModel lists no nodes"


def runtime_label(runtime=None):
    """The `runtime` column: the TFLite runtime `runtime` resolves to and its version, "litert 2.3.0"."""
    return " ".join(runtime_version(runtime))


def _rss_mb():
    with open("/proc/self/statm") as file:
        return int(file.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure(model, delegate, threads, runs, warmup, runtime=None):
    """Times one model in this process with the TFLite `runtime` (None: the first
    installed); returns the row fields (no device columns)."""
    label = runtime_label(runtime)  # the runtime is imported before the baseline: not the model's memory
    baseline = _rss_mb()
    start = time.perf_counter()
    interpreter = make_interpreter(
        model_path=model, num_threads=threads, xnnpack=delegate == "xnnpack", runtime=runtime
    )
    init = time.perf_counter() - start
    detail = interpreter.get_input_details()[0]
    rng = np.random.default_rng(0)
    if np.issubdtype(detail["dtype"], np.integer):
        info = np.iinfo(detail["dtype"])
        sample = rng.integers(info.min, info.max, detail["shape"], dtype=detail["dtype"], endpoint=True)
    else:
        sample = rng.normal(size=detail["shape"]).astype(detail["dtype"])
    interpreter.set_tensor(detail["index"], sample)
    # One candidate: every call timed in order, the first and the warm-up ones reported apart.
    timed = time_interleaved({"model": interpreter.invoke}, 1 + warmup + runs, block=1, untimed=0)["model"]
    first, warm, times = timed[0], timed[1 : 1 + warmup], np.asarray(timed[1 + warmup :])
    partitions, model_nodes = count_partitions(interpreter)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    unknown = partitions is None and delegate == "xnnpack"
    return {
        "status": "ok",
        "reason": NO_PARTITIONS if unknown else None,
        "runtime": label,
        "runs": int(runs),
        "init_ms": init * 1000,
        "first_ms": first,
        "warmup_avg_ms": float(np.mean(warm)) if warm else None,
        "avg_ms": float(times.mean()),
        "std_ms": float(times.std()),
        "min_ms": float(times.min()),
        "median_ms": float(np.median(times)),
        "p5_ms": float(np.percentile(times, 5)),
        "p95_ms": float(np.percentile(times, 95)),
        "max_ms": float(times.max()),
        "memory_mb": max(0.0, peak - baseline),
        "total_nodes": model_nodes,
        "partitions": partitions if delegate == "xnnpack" else 0,
    }


def _host_columns():
    return {"source": "host-python", "device": platform.node(), "device_model": cpu_name(count=True)}


def run_one(model, delegate, threads, runs, warmup, timeout=CHILD_TIMEOUT_S, runtime=None):
    """Measures one configuration in a child process (this Python, TFLite `runtime`);
    a failure becomes a failed row. A runtime this Python lacks raises ImportError."""
    columns = {
        **_host_columns(),
        "model": os.path.basename(model),
        "delegate": delegate,
        "threads": threads,
        "runtime": runtime_label(runtime),
    }
    if not os.path.isfile(model):
        return rows_lib.failed_row(f"model file {model!r} does not exist", **columns)
    command, env = python_module_command(
        sys.executable, "android_bench.host", "--child", model, delegate, threads, runs, warmup, runtime or AUTOMATIC
    )
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return rows_lib.failed_row(f"timed out after {timeout} s", **columns)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        error = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return rows_lib.failed_row(f"exit code {done.returncode}: {error}", **columns)
    return rows_lib.make_row(**{**columns, **json.loads(lines[-1])})


def run_matrix(models, delegates, threads, runs, warmup, progress=True, runtime=None):
    """The rows of every (model, delegate, threads), each measured in a child process.

    Raises:
        ValueError: a run or thread count out of range (the same checks as the flags).
        ImportError: `runtime` is not installed in this Python.
    """
    cli.check_number("runs", runs, minimum=1, integer=True)
    cli.check_number("warmup", warmup, minimum=0, integer=True)
    for count in threads:
        cli.check_number("threads", count, minimum=1, maximum=MAX_THREADS, integer=True)
    runtime_label(runtime)  # a runtime this Python lacks: one ImportError before any run
    plan = [(m, d, t) for m in models for d in delegates for t in threads]
    return [
        run_one(m, d, t, runs, warmup, runtime=runtime)
        for m, d, t in tqdm(plan, desc="host benchmarks", disable=not progress)
    ]


def _thread_counts(text):
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        values = []
    if not values or not all(0 < value <= MAX_THREADS for value in values):
        raise argparse.ArgumentTypeError(
            f"--threads must be positive integers up to {MAX_THREADS} separated by commas, got {text!r}"
        )
    return values


def main(argv=None):
    """The command line; returns the exit code (2 and one line on stderr for an expected failure)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":  # its traceback is the parent's row reason: no cli.run here
        model, delegate, threads, runs, warmup, runtime = argv[1:7]
        runtime = None if runtime == AUTOMATIC else runtime
        try:
            row = measure(model, delegate, int(threads), int(runs), int(warmup), runtime)
        except Exception:
            traceback.print_exc()
            sys.stderr.flush()
            # Ends here: LiteRT's CompiledModel logs as it tears down, lines that would follow the error.
            os._exit(1)
        print(json.dumps(row))
        return 0
    return cli.run(_main, argv, prog=PROG)


def _main(argv):
    parser = cli.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", required=True, help=".tflite files")
    parser.add_argument("--threads", default="1,2", type=_thread_counts)
    parser.add_argument("--delegates", default="xnnpack,none")
    parser.add_argument("--runs", type=cli.number(int, minimum=1), default=50)
    parser.add_argument("--warmup", type=cli.number(int, minimum=0), default=5)
    parser.add_argument("--output-dir", default="android_bench_results")
    parser.add_argument(
        "--runtime",
        choices=RUNTIMES,
        help="TFLite interpreter (default: the first installed); litert-compiled: LiteRT's CompiledModel API",
    )
    args = parser.parse_args(argv)
    delegates = [d.strip() for d in args.delegates.split(",") if d.strip()]
    unknown = sorted(set(delegates) - set(DELEGATES))
    if unknown or not delegates:
        parser.error(f"unknown delegates {unknown}; the host has {', '.join(DELEGATES)}")
    runtime_label(args.runtime)  # a runtime this Python lacks: one line and exit 2 before any run
    inputs = [("--models", model) for model in args.models]
    check_output_folder("--output-dir", args.output_dir, inputs=inputs)
    check_output_paths(*benchmark_result_paths(args.output_dir, "host"), inputs=inputs)
    table = run_matrix(args.models, delegates, args.threads, args.runs, args.warmup, runtime=args.runtime)
    print(rows_lib.markdown(table))
    measured = dict.fromkeys(row["runtime"] for row in table if row.get("runtime"))
    runtimes = ", ".join(measured) or runtime_label(args.runtime)
    rows_lib.write_result(
        args.output_dir,
        "host",
        table,
        "The Android columns on this host",
        shlex.join(["python", PROG, *argv]),
        f"{cpu_name(count=True)}, {runtimes}",
        notes=(
            f"Each configuration in a fresh process: init, first inference, {args.warmup} warm-up and",
            f"{args.runs} timed runs (median, p5-p95), and the peak RSS the model added; x86 timings, not a phone's.",
        ),
    )
    print(f"\nwrote {args.output_dir}/host.json, .csv, .md and .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
