"""One picture of every file: its latency on each TFLite runtime, its cost on each ARM64 core and the
accuracy it keeps, drawn from what two benchmarks wrote.

    python conversion/overview.py --runtimes docs/benchmarks/runtimes_xs/runtime_matrix.json \\
        --arm docs/benchmarks/arm_xs/arm_cost.json docs/benchmarks/arm_pi_xs/arm_cost.json \\
        --output-dir docs/benchmarks/overview_xs

Reads the JSON of `conversion/runtime_matrix.py` (median ms of every file on every runtime, x86) and
of one or more runs of `conversion/arm_cost.py` (instructions per invoke on every emulated core, one
panel per ARM runtime, and, from the first, each file's SQNR against the baseline file on photos, on
the host and on each core). Files are
named `<mode>-<min runtime>` as the matrix wrote them (`swiftformer_xs_int8_2.14.tflite` is `int8-2.14`),
and arm_cost's file keys must name them so (`int8-2.14=.../swiftformer_xs_int8_2.14.tflite`). Writes
overview.json, .csv, .png (the chart the README shows) and .md (the results page) into
--output-dir, together; running the two benchmarks and then this again refreshes them all.

Every expected failure (a missing or unreadable JSON, one written by another tool, a variant the
matrix did not measure) is one line `conversion/overview.py: error: ...` and exit code 2.
"""

import argparse
import json
import math
import os
import shlex
import sys

from swiftformer_keras.utils import charts, cli, files
from swiftformer_keras.utils.tables import markdown_table, results_page

PROG = "conversion/overview.py"
MODES = ("fp32", "fp16", "dynamic", "int8")  # the order of to_tflite's modes, largest file first
TOOLS = {"runtimes": "conversion/runtime_matrix.py", "arm": "conversion/arm_cost.py"}


def parse_args(argv):
    parser = cli.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runtimes", required=True, metavar="JSON", help="runtime_matrix.json")
    parser.add_argument(
        "--arm", nargs="+", required=True, metavar="JSON", help="arm_cost.json of one or more ARM runtimes"
    )
    parser.add_argument("--variant", help="the variant of the matrix to show (default: its only one)")
    parser.add_argument("--output-dir", default="overview")
    return parser.parse_args(argv)


def read_result(flag, path, keys):
    """The JSON a benchmark wrote, checked to hold `keys` and rows; ValueError naming the fix."""
    tool = TOOLS[flag]
    try:
        with open(path, encoding="utf-8") as file:
            data = json.load(file)
    except FileNotFoundError:
        raise ValueError(f"--{flag} {path!r} does not exist; write it with {tool} (docs/benchmarks.md).") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"--{flag} {path!r} is not a JSON file {tool} wrote ({error}).") from None
    rows = data.get("rows") if isinstance(data, dict) else None
    if not rows or not all(isinstance(row, dict) and keys <= row.keys() for row in rows):
        raise ValueError(f"--{flag} {path!r} holds no rows of {tool} ({', '.join(sorted(keys))}); give its JSON.")
    return data


def runtime_rows(matrix, variant):
    """`({file: {runtime: (ms, error)}}, {file: MB}, defaults, runtimes, variant)`: every file of the
    variant, named `<mode>-<min runtime>` (`int8-2.14`), as arm_cost's keys name them."""
    variants = list(dict.fromkeys(row["variant"] for row in matrix["rows"]))
    if variant is None and len(variants) > 1:
        raise ValueError(f"--runtimes measured {', '.join(variants)}: pick one with --variant.")
    variant = variant or variants[0]
    if variant not in variants:
        raise ValueError(f"--variant {variant!r} is not in --runtimes, which measured {', '.join(variants)}.")
    runtimes = matrix["runtimes"]  # {column key: "litert 2.3.0"}
    latency, size, defaults = {}, {}, set()
    for row in matrix["rows"]:
        if row["variant"] == variant:
            name = f"{row['mode']}-{row['min_runtime']}"
            latency[name] = {label: (row.get(f"{key} ms"), row.get(f"{key} error")) for key, label in runtimes.items()}
            size[name] = row["size_mb"]
            defaults |= {name} if row["default"] else set()
    return latency, size, defaults, list(runtimes.values()), variant


def arm_runs(results):
    """One entry per ARM runtime in the arm_cost results, in order: `{"runtime": "litert 2.3.0",
    "cpus": [...], "cost": {file: {cpu: M instructions}}, "sqnr": {file: {where: SQNR dB}},
    "baseline": file}`, SQNR against the baseline file on the host and on each core."""
    runs = {}
    for result in results:
        for row in result["rows"]:
            run = runs.setdefault(row["runtime"], {"runtime": row["runtime"], "cpus": [], "cost": {}, "sqnr": {}})
            run["baseline"] = result.get("baseline") or result["rows"][0]["file"]
            run["cpus"] += [row["cpu"]] if row["cpu"] not in run["cpus"] else []
            run["cost"].setdefault(row["file"], {})[row["cpu"]] = row["instructions"] and row["instructions"] / 1e6
            sqnr = run["sqnr"].setdefault(row["file"], {"host": _finite(row.get("sqnr_db_vs_baseline_host"))})
            sqnr[row["cpu"]] = _finite(row.get("sqnr_db_vs_baseline_arm"))
    return list(runs.values())


def _finite(value):
    """A SQNR as drawn and tabled: None for a file against itself (inf) or one not measured."""
    return value if isinstance(value, (int, float)) and math.isfinite(value) else None


def _file_order(name, defaults):
    """Each mode's default file first, in to_tflite's order of modes, then the other recipes'."""
    mode = name.rsplit("-", 1)[0]
    return (name not in defaults, MODES.index(mode) if mode in MODES else len(MODES), name)


def _cost_key(run, cpu):
    return f"{cpu} M instructions ({run['runtime']})"


def _sqnr_key(baseline, where):
    return f"SQNR dB vs {baseline} ({where})"


def overview_rows(latency, size, defaults, runtimes, arm):
    """A row per file that either benchmark measured; the accuracy is the first ARM run's."""
    first = arm[0]
    baseline, places = first["baseline"], ["host", *first["cpus"]]
    rows = []
    names = {*latency, *(name for run in arm for name in run["cost"])}
    for name in sorted(names, key=lambda name: _file_order(name, defaults)):
        row = {"file": name, "default": name in defaults, "size_mb": size.get(name)}
        for runtime in runtimes:
            row[f"{runtime} ms"], row[f"{runtime} error"] = latency.get(name, {}).get(runtime, (None, None))
        for run in arm:
            row.update({_cost_key(run, cpu): run["cost"].get(name, {}).get(cpu) for cpu in run["cpus"]})
        # The baseline against itself is the reference, not a measurement (its ARM outputs differ from
        # the host's by float rounding alone: 128 dB would dwarf the bars that matter).
        kept = {} if name == baseline else first["sqnr"].get(name, {})
        row.update({_sqnr_key(baseline, where): kept.get(where) for where in places})
        rows.append(row)
    return rows


def _cell(value, digits):
    return "" if value is None else f"{value:.{digits}f}"


def _label(row):
    """The file as the tables and the chart name it: to_tflite's default for its mode says so."""
    return f"{row['file']} (default)" if row["default"] else row["file"]


def _latency_cell(row, runtime):
    return "does not load" if row[f"{runtime} error"] else _cell(row[f"{runtime} ms"], 2)


def _sqnr_cell(row, baseline, where):
    return "reference" if row["file"] == baseline else _cell(row[_sqnr_key(baseline, where)], 1)


def _cost(row, run, cpu):
    """M instructions, or why there are none: a file arm_cost ran that the runtime refused, or one it did not run."""
    if row[_cost_key(run, cpu)] is not None:
        return row[_cost_key(run, cpu)]
    return "does not load" if row["file"] in run["cost"] else "not measured"


def _cost_cell(row, run, cpu):
    value = _cost(row, run, cpu)
    return "" if value == "not measured" else value if isinstance(value, str) else f"{value:.1f}"


def _arm_part(run):
    """The named part of an ARM run's table: `arm-litert-2.3.0`."""
    return "arm-" + run["runtime"].replace(" ", "-")


def markdown(rows, runtimes, arm):
    """The named tables, one per panel of the chart: `latency`, `arm-<runtime>` per ARM run, `accuracy`."""
    latency = markdown_table(
        ["file", "MB", *runtimes],
        [[_label(row), _cell(row["size_mb"], 1), *(_latency_cell(row, r) for r in runtimes)] for row in rows],
        align="lr" + "r" * len(runtimes),
    )
    sections = [("latency", "## Latency on each runtime (x86, median ms)\n\n" + latency)]
    for run in arm:
        cost = markdown_table(
            ["file", *run["cpus"]],
            [[_label(row), *(_cost_cell(row, run, cpu) for cpu in run["cpus"])] for row in rows],
            align="l" + "r" * len(run["cpus"]),
        )
        heading = f"## Cost on each ARM64 core with {run['runtime']} (M guest instructions per invoke, 1 thread)"
        sections.append((_arm_part(run), f"{heading}\n\n{cost}"))
    baseline, places = arm[0]["baseline"], ["host", *arm[0]["cpus"]]
    accuracy = markdown_table(
        ["file", *places],
        [[_label(row), *(_sqnr_cell(row, baseline, where) for where in places)] for row in rows],
        align="l" + "r" * len(places),
    )
    heading = f"## Accuracy kept (SQNR dB of the outputs against the {baseline} file's on photos; higher is closer)"
    return [*sections, ("accuracy", f"{heading}\n\n{accuracy}")]


def plot(rows, runtimes, arm, variant, path):
    """overview.png: the tables as panels of bars, a row of bars per file."""
    baseline, places = arm[0]["baseline"], ["host", *arm[0]["cpus"]]

    def latency(row, runtime):
        return "does not load" if row[f"{runtime} error"] else _bar(row[f"{runtime} ms"])

    def sqnr(row, where):
        return "reference" if row["file"] == baseline else _bar(row[_sqnr_key(baseline, where)])

    panels = [
        ("latency on x86, by runtime", "median ms (log scale; lower is better)",
         {runtime: [latency(row, runtime) for row in rows] for runtime in runtimes}, True),
        *((f"ARM64 cores with {run['runtime']} (QEMU)", "M instructions per invoke (lower is better)",
           {cpu: [_cost(row, run, cpu) for row in rows] for cpu in run["cpus"]}, False) for run in arm),
        (f"accuracy kept vs {baseline}, on photos", "SQNR dB (higher is better)",
         {where: [sqnr(row, where) for row in rows] for where in places}, False),
    ]  # fmt: skip
    title = f"SwiftFormer-{variant}: every TFLite file, every runtime and core"
    return charts.bar_panels(path, [_label(row) for row in rows], panels, title, figsize=(4.4 * len(panels), 5.2))


def _bar(value):
    return "not measured" if value is None else value


def source_link(path, output_dir, what=None):
    """A link from the page to the results page beside `path`, named by its title (and `what` it
    holds), where there is one."""
    page = os.path.splitext(path)[0] + ".md"
    if not os.path.isfile(page):
        return f"`{os.path.basename(path)}`"
    with open(page, encoding="utf-8") as file:
        title = file.readline().removeprefix("# ").strip() or os.path.basename(page)
    title += f" ({what})" if what else ""
    return f"[{title}]({os.path.relpath(page, output_dir)})"


def main(argv=None):
    """The command line; every expected failure is one line on stderr and exit code 2."""
    return cli.run(_main, argv, prog=PROG)


def _main(argv):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    matrix = read_result("runtimes", args.runtimes, {"variant", "mode", "default", "size_mb"})
    results = [read_result("arm", path, {"file", "runtime", "cpu", "instructions"}) for path in args.arm]
    latency, size, defaults, runtimes, variant = runtime_rows(matrix, args.variant)
    arm = arm_runs(results)
    for run in arm:
        if not set(run["cost"]) & set(latency):
            raise ValueError(
                f"--arm's files {', '.join(run['cost'])} ({run['runtime']}) are none of --runtimes' "
                f"({', '.join(latency)}): run arm_cost.py on the matrix's files, named so "
                "(int8-2.14=.../swiftformer_xs_int8_2.14.tflite)."
            )
    inputs = [("--runtimes", args.runtimes), *(("--arm", path) for path in args.arm)]
    files.check_output_folder("--output-dir", args.output_dir, inputs=inputs)
    files.check_output_paths(*files.benchmark_result_paths(args.output_dir, "overview"), inputs=inputs)
    rows = overview_rows(latency, size, defaults, runtimes, arm)
    sections = markdown(rows, runtimes, arm)
    print("\n\n".join(block for _, block in sections))
    command = " ".join(["python", PROG, *map(shlex.quote, argv)])
    sources = {"runtimes": matrix["command"], "arm": [result["command"] for result in results]}
    links = [source_link(args.runtimes, args.output_dir)]
    for path, result in zip(args.arm, results, strict=True):
        ran = ", ".join(dict.fromkeys(row["runtime"] for row in result["rows"]))
        links.append(source_link(path, args.output_dir, ran))
    page = results_page(
        f"SwiftFormer-{variant}: every file on every runtime and core",
        command,
        f"from {', '.join(links[:-1])} and {links[-1]}",
        sections,
        chart="overview.png",
        notes=(
            f"Latency: x86, {matrix.get('threads')} thread(s), medians of interleaved turns. ARM64: exact",
            "instruction counts under QEMU, 1 thread, not times. Each source page gives its command, date",
            "and machine.",
        ),
    )
    data = {"command": command, "variant": variant, "baseline": arm[0]["baseline"], "sources": sources, "rows": rows}
    draw = lambda temp: plot(rows, runtimes, arm, variant, temp)  # noqa: E731
    files.write_benchmark_result(args.output_dir, "overview", data, rows, page, plot=draw)
    print(f"\nwrote {args.output_dir}/overview.json, .csv, .png, .md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
