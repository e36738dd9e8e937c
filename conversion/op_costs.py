"""What one op costs inside an XNNPACK graph, in int8 and in float32, at a SwiftFormer stage's shape.

    python conversion/op_costs.py --height 56 --channels 48

For each op of `OP_COSTS` (the kinds of op an XS int8 file spends its non-GEMM
time on, and the 1x1 convolutions beside them), builds a graph of --copies
independent copies of it, each over inputs of its own, converts it to float32 and to int8
(int8 input and output tensors: no QUANTIZE op beside them;
`export.convert_op_graph`), and times every file in one interleaved loop
(LiteRT's default XNNPACK delegate, --threads threads). Several copies per invoke
keep the thread pool awake between ops, as inside a model, and spread the
invoke's own cost over them: a file of one op mostly times the pool's wake-up.
Prints per op the median microseconds per copy in both types and int8 / fp32,
and writes op_costs.json and op_costs.csv to --output-dir. With --arm-cpus, each
file also runs on those emulated ARM64 cores (LiteRT 2.3, one thread,
`lite.arm_emulation`; `make arm64` builds them): the guest instructions per copy
in both types and their ratio, exact, beside this host's times.

It converts with TensorFlow, so it runs in .venv. Every expected failure is one
line `conversion/op_costs.py: error: ...` and exit code 2; flags and the output
folder are checked before TensorFlow starts.

The point of the table: int8 only pays where its kernels are faster than the
float ones. A model whose time goes to ops with int8 / fp32 near 1 cannot get
much below that ratio, whatever its GEMMs gain.
"""

import argparse
import importlib.util
import os
import shlex
import sys

# Light modules only: TensorFlow loads in the functions that use it, after _main has checked
# every flag, so that --help and bad input answer at once.
import numpy as np
from tqdm import tqdm

from swiftformer_keras.lite.arm_emulation import CPU_MODELS, ArmEnvironment, EmulatedRuntime
from swiftformer_keras.lite.interpreter import (
    count_partitions,
    cpu_name,
    make_interpreter,
    runtime_version,
    time_interleaved,
)
from swiftformer_keras.utils import cli, files
from swiftformer_keras.utils.tables import markdown_table, results_page

PROG = "conversion/op_costs.py"
DTYPES = ("int8", "float32")
# (name, what it stands for in the model, its second input's shape or None, build(tf, x, other, weights)).
# x is (1, H, W, C). Every copy reads inputs of its own, so that the converter merges none of them.
OP_COSTS = (
    (
        "CONV_2D 1x1, C -> C",
        "the attention's projections, LocalRepresentation",
        None,
        lambda tf, x, other, w: tf.nn.conv2d(x, w["square"], 1, "VALID"),
    ),
    (
        "CONV_2D 1x1, C -> 4C",
        "an MLP's first layer",
        None,
        lambda tf, x, other, w: tf.nn.conv2d(x, w["wide"], 1, "VALID"),
    ),
    (
        "CONV_2D 1x1, C -> 1",
        "the attention's channel sums and its q @ w_g",
        None,
        lambda tf, x, other, w: tf.nn.conv2d(x, w["column"], 1, "VALID"),
    ),
    (
        "DEPTHWISE_CONV_2D 3x3",
        "every block's first op",
        None,
        lambda tf, x, other, w: tf.nn.depthwise_conv2d(x, w["depthwise"], (1, 1, 1, 1), "SAME"),
    ),
    ("LOGISTIC", "the int8 GELU's lookup", None, lambda tf, x, other, w: tf.sigmoid(x)),
    ("MUL, same shape", "the GELU's product, the squares of the norms", "same", lambda tf, x, other, w: x * other),
    ("MUL by one value per token", "the norms' x * (1 / ||x||)", "token", lambda tf, x, other, w: x * other),
    ("MUL by one value per channel", "the global query times the key", "channel", lambda tf, x, other, w: x * other),
    ("ADD, same shape", "the residual connections", "same", lambda tf, x, other, w: x + other),
    (
        "SUM over channels",
        "the 2.17 recipe's channel sums",
        None,
        lambda tf, x, other, w: tf.reduce_sum(x, axis=-1, keepdims=True),
    ),
    (
        "TRANSPOSE tokens x channels",
        "the 2.14 recipe's token sums",
        None,
        lambda tf, x, other, w: tf.transpose(tf.reshape(x, (1, -1, x.shape[-1])), (0, 2, 1)),
    ),
)


def _other_shape(kind, height, channels):
    return {"same": (1, height, height, channels), "token": (1, height, height, 1), "channel": (1, 1, 1, channels)}[
        kind
    ]


def op_file(folder, index, dtype):
    """Where the file of the `index`-th op of `OP_COSTS` in `dtype` is written."""
    return os.path.join(folder, f"op_{index:02d}_{dtype}.tflite")


def make_files(folder, height, channels, copies, seed=0):
    """`{(op, dtype): path}`: one file per op of `OP_COSTS` and dtype, `copies` copies of the op each."""
    import tensorflow as tf

    from swiftformer_keras.lite import converter as export

    rng = np.random.default_rng(seed)
    shapes = {
        "square": (1, 1, channels, channels),
        "wide": (1, 1, channels, 4 * channels),
        "column": (1, 1, channels, 1),
        "depthwise": (3, 3, channels, 1),
    }
    weights = [
        {name: tf.constant(rng.normal(0, 0.1, shape), tf.float32) for name, shape in shapes.items()}
        for _ in range(copies)
    ]
    made = {}
    for index, (name, _, other, build) in enumerate(OP_COSTS):
        per_copy = [(1, height, height, channels)] + ([_other_shape(other, height, channels)] if other else [])
        inputs_per_copy = len(per_copy)

        def graph(*inputs, build=build, width=inputs_per_copy):
            groups = [inputs[start : start + width] for start in range(0, len(inputs), width)]
            return [
                build(tf, group[0], group[-1] if width > 1 else None, copy_weights)
                for group, copy_weights in zip(groups, weights, strict=True)
            ]

        for dtype in DTYPES:
            path = op_file(folder, index, dtype)
            files.write_bytes_atomically(path, export.convert_op_graph(graph, per_copy * copies, dtype))
            made[(name, dtype)] = path
    return made


def time_ops(made, copies, threads, runs, warmup):
    """Rows of `OP_COSTS` order: median microseconds per copy in each dtype, int8 / fp32, and the
    XNNPACK partitions of each file (1: the delegate took the whole graph)."""
    interpreters = {}
    for key, path in made.items():
        interpreter = make_interpreter(model_path=path, num_threads=threads)
        for detail in interpreter.get_input_details():
            values = np.random.default_rng(0).uniform(0.1, 4.0, detail["shape"])
            if detail["dtype"] == np.int8:
                values = np.clip(np.round(values / detail["quantization"][0] + detail["quantization"][1]), -128, 127)
            interpreter.set_tensor(detail["index"], values.astype(detail["dtype"]))
        interpreters[key] = interpreter
    times = time_interleaved(
        {key: interpreter.invoke for key, interpreter in interpreters.items()}, runs, warmup, progress=True
    )
    rows = []
    for name, stands_for, _, _ in OP_COSTS:
        row = {"op": name, "in the model": stands_for}
        for dtype in DTYPES:
            row[f"{dtype} us"] = float(np.median(times[(name, dtype)])) * 1000 / copies
            row[f"{dtype} partitions"] = count_partitions(interpreters[(name, dtype)])[0]
        row["int8 / fp32"] = row["int8 us"] / row["float32 us"]
        rows.append(row)
    return rows


def count_on_arm(rows, made, copies, cpus, environment):
    """Adds to each row, per CPU model, the guest instructions of one copy in each dtype (LiteRT on
    the emulated core, one thread) and their int8 / fp32 ratio."""
    keys = {f"{name} {dtype}": (name, dtype) for name, dtype in made}
    for cpu in tqdm(cpus, desc="emulated ARM64 cores", unit="cpu"):
        with EmulatedRuntime(cpu, "litert", environment) as arm:
            arm.load({label: made[key] for label, key in keys.items()})
            counts = {keys[label]: min(arm.count(label, runs=1)["instructions"]) / copies for label in keys}
        for row in rows:
            int8, fp32 = counts[(row["op"], "int8")], counts[(row["op"], "float32")]
            row[f"{cpu} int8 instructions"], row[f"{cpu} float32 instructions"] = int8, fp32
            row[f"{cpu} int8 / fp32"] = int8 / fp32
    return rows


def markdown(rows, cpus=()):
    """A row per op: microseconds per copy in int8 and fp32, and their ratio (marked where a graph split);
    with `cpus`, thousands of instructions per copy on each and their ratio."""
    cells = []
    for row in rows:
        split = "" if row["int8 partitions"] == row["float32 partitions"] == 1 else " (graph split)"
        arm = [
            cell
            for cpu in cpus
            for cell in (
                f"{row[f'{cpu} int8 instructions'] / 1e3:.1f}",
                f"{row[f'{cpu} float32 instructions'] / 1e3:.1f}",
                f"{row[f'{cpu} int8 / fp32']:.2f}",
            )
        ]
        cells.append(
            [
                row["op"],
                row["in the model"],
                f"{row['int8 us']:.1f}",
                f"{row['float32 us']:.1f}",
                f"{row['int8 / fp32']:.2f}{split}",
                *arm,
            ]
        )
    header = ["op", "in the model", "int8 us", "fp32 us", "int8 / fp32"]
    header += [f"{cpu} {what}" for cpu in cpus for what in ("int8 k-instr", "fp32 k-instr", "int8 / fp32")]
    return markdown_table(header, cells, align="ll" + "r" * (len(header) - 2))


def parse_args(argv):
    parser = cli.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--height",
        type=cli.number(int, minimum=1),
        default=56,
        help="the feature map's height and width (XS stages: 56, 28, 14, 7)",
    )
    parser.add_argument(
        "--channels", type=cli.number(int, minimum=1), default=48, help="its channels (XS stages: 48, 56, 112, 220)"
    )
    parser.add_argument("--copies", type=cli.number(int, minimum=1), default=10, help="copies of the op per file")
    parser.add_argument("--threads", type=cli.number(int, minimum=1), default=2)
    parser.add_argument("--runs", type=cli.number(int, minimum=1), default=200)
    parser.add_argument("--warmup", type=cli.number(int, minimum=0), default=10)
    parser.add_argument(
        "--arm-cpus",
        nargs="+",
        choices=tuple(CPU_MODELS),
        default=[],
        metavar="CPU",
        help=f"also count each file's instructions on these emulated ARM64 cores: {', '.join(CPU_MODELS)}",
    )
    parser.add_argument("--output-dir", default="op_costs")
    args = parser.parse_args(argv)
    cli.check_no_repeats("--arm-cpus", args.arm_cpus)
    return args


def check_environment():
    """`"name version"` of the TFLite runtime the timings use; one line with the fix where this Python
    has no TensorFlow to convert with, or no runtime to time with."""
    if importlib.util.find_spec("tensorflow") is None:  # .venv-tflite-runtime: its Keras has no backend
        raise ImportError(
            f"this Python ({sys.executable}) has no TensorFlow, which op_costs needs to convert each op to "
            ".tflite: run it with .venv/bin/python."
        )
    with cli.quiet_startup():  # where LiteRT is missing, the first runtime installed may be TensorFlow's
        return " ".join(runtime_version())


def output_paths(folder):
    """`(what, path)` of every file the run writes."""
    written = [
        (f"the file of {name} in {dtype}", op_file(folder, index, dtype))
        for index, (name, *_) in enumerate(OP_COSTS)
        for dtype in DTYPES
    ]
    return written + files.benchmark_result_paths(folder, "op_costs", chart=False)


def main(argv=None):
    """The command line; every expected failure is one line on stderr and exit code 2."""
    return cli.run(_main, argv, prog=PROG)


def _main(argv):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    runtime = check_environment()
    environment = ArmEnvironment.find() if args.arm_cpus else None  # missing: one line before any work
    files.check_output_folder("--output-dir", args.output_dir)
    files.check_output_paths(*output_paths(args.output_dir))
    with cli.quiet_startup():
        # TensorFlow loads here, after every flag and path is checked: --help and bad input answer at once.
        from swiftformer_keras.lite import converter as export  # noqa: F401  (loaded here for its start-up lines; make_files uses it)
    made = make_files(args.output_dir, args.height, args.channels, args.copies)
    rows = time_ops(made, args.copies, args.threads, args.runs, args.warmup)
    if args.arm_cpus:
        rows = count_on_arm(rows, made, args.copies, args.arm_cpus, environment)
    print(
        f"\n{args.height}x{args.height}x{args.channels}, {args.copies} copies per file, {args.threads} threads, "
        f"{runtime}, median us per copy:\n"
    )
    table = markdown(rows, args.arm_cpus)
    print(table)
    command = " ".join(["python", PROG, *map(shlex.quote, argv)])
    result = {
        "command": command,
        "runtime": runtime,
        "height": args.height,
        "channels": args.channels,
        "copies": args.copies,
        "threads": args.threads,
        "runs": args.runs,
        "arm_cpus": args.arm_cpus,
        "rows": rows,
    }
    page = results_page(
        "What one op costs in int8 and in fp32, inside an XNNPACK graph",
        command,
        f"{cpu_name(count=True)}, {runtime}, {args.threads} thread(s)"
        + (", and QEMU's ARM64 cores" if args.arm_cpus else ""),
        [("ops", table)],
        notes=(
            f"{args.height}x{args.height}x{args.channels}, {args.copies} copies per file,",
            "median microseconds per copy;",
            "ARM64 columns are guest instructions per copy, counted under emulation.",
        ),
    )
    files.write_benchmark_result(args.output_dir, "op_costs", result, rows, page)
    print(f"\nwrote {args.output_dir}/op_costs.json, .csv, .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
