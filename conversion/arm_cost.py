"""What .tflite files cost on ARM64 CPUs: instructions per invoke under emulation, beside this host's output.

    make arm64        # once: QEMU, an arm64 Python 3.11, LiteRT 2.3 and tflite-runtime 2.14 for aarch64
    python conversion/arm_cost.py xs_fp32.tflite xs_int8.tflite
    python conversion/arm_cost.py fp32=a.tflite int8=b.tflite --cpus cortex-a53 cortex-a76 armv9 \\
        --runtimes litert tflite-runtime --output-dir arm_cost

For every file, runtime and CPU model: the guest instructions of one invoke at one thread (the
smallest of --runs counted invokes, which differ by a few hundred at most; the same on every run of
the tool), their ratio to the --baseline file's (default: the first) on the same CPU and runtime,
the XNNPACK partitions, and the largest difference between the file's output there and in this
host's interpreter on the same input. Files are named KEY=PATH, or by their file name. Markdown on
stdout; arm_cost.json, arm_cost.csv, arm_cost.png and arm_cost.md (the results page: when, where,
the command, the tables and the chart; docs/benchmarks/ holds such pages) in --output-dir, written
together. --functions N also prints, per file and core, the N functions (XNNPACK's micro-kernels by
name) the counted invokes spent most instructions in; the JSON has every function. --images DIR also
runs --num photos of DIR (preprocessed as every tool does, at each file's size) through every file,
on the emulated core and on this host, and compares each file's outputs with the --baseline file's
on this host: top-1 agreement and SQNR, the accuracy the ARM kernels keep beside this host's; where
DIR holds a folder per class of a file's labels (its metadata), that file's top-1 accuracy too.

Counts are exact and compare kernels on one CPU model; they are not times (see
swiftformer_keras/lite/arm_emulation.py).
"""

import argparse
import os
import shlex
import sys

import numpy as np
from tqdm import tqdm

from swiftformer_keras.lite.arm_emulation import ARM_RUNTIMES, CPU_MODELS, ArmEnvironment, EmulatedRuntime
from swiftformer_keras.lite.calibration import class_labels, find_images, sample_images
from swiftformer_keras.lite.interpreter import cpu_name
from swiftformer_keras.lite.metadata import read_metadata
from swiftformer_keras.lite.predictor import TFLitePredictor
from swiftformer_keras.lite.report import fidelity
from swiftformer_keras.lite.runtime_worker import Worker
from swiftformer_keras.utils import charts, cli, files
from swiftformer_keras.utils.tables import markdown_table, results_page

PROG = "conversion/arm_cost.py"
DEFAULT_CPUS = ("cortex-a53", "cortex-a76", "armv9")


def parse_args(argv):
    parser = cli.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", metavar="[KEY=]FILE", help=".tflite files")
    parser.add_argument("--cpus", nargs="+", choices=tuple(CPU_MODELS), default=list(DEFAULT_CPUS), metavar="CPU")
    parser.add_argument("--runtimes", nargs="+", choices=tuple(ARM_RUNTIMES), default=["litert"], metavar="RUNTIME")
    parser.add_argument("--runs", type=cli.number(int, minimum=1), default=2, help="counted invokes per file")
    parser.add_argument("--baseline", metavar="KEY", help="the file the ratios divide by (default: the first)")
    parser.add_argument(
        "--functions",
        type=cli.number(int, minimum=0),
        default=0,
        metavar="N",
        help="print the N functions each file spends most instructions in (0: none)",
    )
    parser.add_argument("--images", metavar="DIR", help="photos to compare the files' outputs on (recursive)")
    parser.add_argument("--num", type=cli.number(int, minimum=1), default=8, help="how many of --images")
    parser.add_argument("--output-dir", default="arm_cost")
    args = parser.parse_args(argv)
    cli.check_no_repeats("--cpus", args.cpus)
    cli.check_no_repeats("--runtimes", args.runtimes)
    return args


def model_files(specs):
    """`{key: path}` of `KEY=PATH` or `PATH` specs; ValueError for a missing file or a repeated key."""
    found = {}
    for spec in specs:
        key, path = spec.split("=", 1) if "=" in spec else (os.path.splitext(os.path.basename(spec))[0], spec)
        if not key:
            raise ValueError(f"{spec!r} names no file key; write KEY=PATH or PATH.")
        if key in found:
            raise ValueError(f"Two files are named {key!r}; name them KEY=PATH.")
        if not os.path.isfile(path):
            raise ValueError(f"{path!r} does not exist or is not a file.")
        found[key] = path
    return found


def host_outputs(paths):
    """Each file's output in this host's interpreter, for the input the emulated workers give it."""
    host = Worker(None, threads=1, warmup=0)
    loaded = host.load(paths)
    return {key: host.predict(key)["output"] for key, found in loaded["files"].items() if found["loaded"]}


def photo_inputs(paths, folder, count):
    """`({key: file inputs}, {key: host outputs}, {key: labels or None})` for `count` photos of
    `folder` drawn as `calibration.sample_images` draws them, at each file's size, in the form its
    input takes; labels where `folder` holds a folder per class of the file's (`class_labels`)."""
    inputs, outputs, labels, drawn = {}, {}, {}, {}
    for key, path in paths.items():
        predictor = TFLitePredictor(path, num_threads=1)
        size = tuple(predictor.image_size)
        if size not in drawn:
            drawn[size] = sample_images(folder, count, size, progress=f"photos at {size[0]}x{size[1]}")
        images, info = drawn[size]
        inputs[key] = predictor.file_inputs(images)
        outputs[key] = predictor(images)
        names = ((read_metadata(path) or {}).get("output") or {}).get("labels")
        labels[key] = class_labels(info["paths"], folder, names, predictor.num_classes)
    return inputs, outputs, labels


def count_files(paths, cpus, runtimes, runs, environment, functions=False, inputs=None):
    """One row per (file, runtime, cpu): the instructions of an invoke and the output there; with
    `functions`, the instructions of the counted invokes by function, most first; with `inputs`
    (`{key: file inputs}`), the file's outputs for them there (`photo_outputs`)."""
    rows = []
    for runtime, cpu in tqdm([(r, c) for r in runtimes for c in cpus], desc="emulated runtimes", unit="cpu"):
        with EmulatedRuntime(cpu, runtime, environment) as arm:
            loaded = arm.load(paths)
            for key, found in loaded["files"].items():
                row = {"file": key, "runtime": f"{loaded['runtime']} {loaded['version']}", "cpu": cpu}
                row.update(partitions=found["partitions"], instructions=None, error=found["error"])
                if found["loaded"]:
                    counted = arm.count(key, runs, functions=functions)
                    row.update(instructions=min(counted["instructions"]), output=counted["output"])
                    if inputs is not None:
                        row["photo_outputs"] = arm.predict(key, inputs[key])
                    if functions:
                        ranked = sorted(counted["functions"].items(), key=lambda item: -item[1])
                        row["functions"] = [
                            {"library": library, "function": name, "instructions_per_invoke": count / runs}
                            for (library, name), count in ranked
                        ]
                rows.append(row)
    return rows


def add_comparisons(rows, reference, baseline, host_photo_outputs=None, labels=None):
    """Adds each row's ratio to the baseline file's count (same runtime and CPU) and its output's
    largest difference from this host's; with `host_photo_outputs` (`photo_inputs`), the top-1
    agreement and SQNR of its photo outputs there and here against the baseline file's here, and
    with the file's `labels`, its top-1 accuracy there and here."""
    base = {(row["runtime"], row["cpu"]): row["instructions"] for row in rows if row["file"] == baseline}
    for row in rows:
        output = row.pop("output", None)
        photo_outputs = row.pop("photo_outputs", None)
        denominator = base.get((row["runtime"], row["cpu"]))
        row["over_baseline"] = (
            round(row["instructions"] / denominator, 4) if row["instructions"] and denominator else None
        )
        row["max_abs_diff_vs_host"] = (
            max(abs(a - b) for a, b in zip(output, reference[row["file"]], strict=True))
            if output is not None and row["file"] in reference
            else None
        )
        if host_photo_outputs is None:
            continue
        truth = (labels or {}).get(row["file"])
        for where, outputs in (("arm", photo_outputs), ("host", host_photo_outputs.get(row["file"]))):
            found = {} if outputs is None else fidelity(host_photo_outputs[baseline], outputs)
            row[f"top1_vs_baseline_{where}"] = found.get("top1_agreement")
            row[f"sqnr_db_vs_baseline_{where}"] = found.get("sqnr_db")
            if truth is not None:
                row[f"top1_{where}"] = None if outputs is None else float(np.mean(np.argmax(outputs, 1) == truth))
    return rows


def markdown(rows, baseline):
    photos = any("top1_vs_baseline_arm" in row for row in rows)
    headers = ["file", "runtime", "CPU", "partitions", "M instructions / invoke", f"/ {baseline}", "max |diff| vs host"]
    accuracy = any("top1_arm" in row for row in rows)
    if photos:
        headers += [f"top-1 = {baseline}'s (ARM / host)", f"SQNR dB vs {baseline} (ARM / host)"]
    if accuracy:
        headers += ["top-1 accuracy (ARM / host)"]

    def pair(row, name, form):
        values = [row.get(f"{name}_arm"), row.get(f"{name}_host")]
        return " / ".join("-" if value is None else form.format(value) for value in values)

    table = []
    for row in rows:
        cells = [
            row["file"],
            row["runtime"],
            row["cpu"],
            row["partitions"] if row["partitions"] is not None else "-",
            f"{row['instructions'] / 1e6:.2f}" if row["instructions"] else f"does not load: {row['error']}",
            f"{row['over_baseline']:.3f}" if row["over_baseline"] is not None else "-",
            f"{row['max_abs_diff_vs_host']:.1e}" if row["max_abs_diff_vs_host"] is not None else "-",
        ]
        if photos:
            cells += [pair(row, "top1_vs_baseline", "{:.3f}"), pair(row, "sqnr_db_vs_baseline", "{:.1f}")]
        if accuracy:
            cells += [pair(row, "top1", "{:.2%}")]
        table.append(cells)
    return markdown_table(headers, table, align="lllrrrr" + "rr" * photos + "r" * accuracy)


def functions_markdown(rows, top):
    """Per file and core, the `top` functions by instructions: their share of the invoke, and millions."""
    parts = []
    for row in rows:
        if not row.get("functions"):
            continue
        total = sum(entry["instructions_per_invoke"] for entry in row["functions"])
        table = markdown_table(
            ["function", "share", "M instructions / invoke"],
            [
                [
                    f"`{e['function']}`",
                    f"{e['instructions_per_invoke'] / total:.3f}",
                    f"{e['instructions_per_invoke'] / 1e6:.2f}",
                ]
                for e in row["functions"][:top]
            ],
            align="lrr",
        )
        parts.append(f"**{row['file']}, {row['runtime']}, {row['cpu']}**\n\n{table}")
    return "\n\n".join(parts)


def plot(rows, path):
    groups = list(dict.fromkeys(f"{row['cpu']}\n{row['runtime']}" for row in rows))
    series = {}
    for row in rows:
        values = series.setdefault(row["file"], [None] * len(groups))
        values[groups.index(f"{row['cpu']}\n{row['runtime']}")] = (row["instructions"] or 0) / 1e6
    return charts.grouped_bars(
        path, groups, series, "M guest instructions per invoke, 1 thread", "SwiftFormer TFLite files on ARM64 (QEMU)"
    )


def main(argv=None):
    """The command line; every expected failure is one line on stderr and exit code 2."""
    return cli.run(_main, argv, prog=PROG)


def _main(argv):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    paths = model_files(args.models)
    baseline = args.baseline or next(iter(paths))
    if baseline not in paths:
        raise ValueError(f"--baseline {baseline!r} is none of the files {sorted(paths)}.")
    if args.images is not None:
        find_images(args.images)  # missing or empty: one line now, before anything runs
    environment = ArmEnvironment.find()
    inputs = [(f"the file {key}", path) for key, path in paths.items()]
    inputs += [("--images", args.images)] if args.images is not None else []
    outputs = files.benchmark_result_paths(args.output_dir, "arm_cost")
    files.check_output_folder("--output-dir", args.output_dir, inputs=inputs)
    files.check_output_paths(*outputs, inputs=inputs)
    with cli.quiet_startup():
        reference = host_outputs(paths)
        photos, host_photo_outputs, labels = photo_inputs(paths, args.images, args.num) if args.images else (None,) * 3
    counted = count_files(
        paths, args.cpus, args.runtimes, args.runs, environment, functions=args.functions > 0, inputs=photos
    )
    rows = add_comparisons(counted, reference, baseline, host_photo_outputs, labels)
    print(markdown(rows, baseline))
    if args.functions:
        print("\n" + functions_markdown(rows, args.functions))
    command = " ".join(["python", PROG, *map(shlex.quote, argv)])
    sections = [("files", markdown(rows, baseline))]
    sections += [("functions", functions_markdown(rows, args.functions))] if args.functions else []
    page = results_page(
        "SwiftFormer TFLite files on ARM64 cores",
        command,
        f"QEMU {environment.qemu_version()} user mode on {cpu_name()}, 1 thread",
        sections,
        chart="arm_cost.png",
        notes=(
            "Guest instructions per invoke, exact and repeatable: they compare kernels on one core model,",
            "they are not times (swiftformer_keras/lite/arm_emulation.py).",
        ),
    )
    table = [{key: value for key, value in row.items() if key != "functions"} for row in rows]
    data = {"command": command, "runs": args.runs, "baseline": baseline, "rows": rows}
    files.write_benchmark_result(args.output_dir, "arm_cost", data, table, page, plot=lambda temp: plot(rows, temp))
    print(f"\nwrote {', '.join(path for _, path in outputs)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
