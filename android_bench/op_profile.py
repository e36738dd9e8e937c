"""Read the operator-profiling tables of `benchmark_model --enable_op_profiling=true` into rows.

With op profiling, TensorFlow Lite's benchmark_model (LiteRT's tool: --use_profiler) prints,
after its timings, a profile of the initialisation and one of the measured runs, each a few
tables ("Run Order", "Top by Computation Time", "Summary by node type") of one line per op:

    Operator-wise Profiling Info for Regular Benchmark Runs:
    ============================== Run Order ==============================
        [node type]   [first]  [avg ms]     [%]   [cdf%]  [mem KB]  [times called]  [Name]
               GELU     0.031     0.030  0.196%   7.171%     0.000               1  [.../gelu]:12

`parse_op_profile` turns them into one dict per row. The lines are read as
`android_bench.parse` reads them (`parse.log_lines` strips the binary's, logcat's and glog's
prefixes); the timings of the same text are `parse.parse_benchmark_output`'s. Every form read
here follows the tool's sources, named beside each pattern, and is read in time linear in the
text (issue 25: see `_banner_title` and `_profile_row_pattern`).
"""

import re

from android_bench.parse import NUMBER, log_lines, number

__all__ = ["parse_op_profile"]

# tensorflow/tensorflow tensorflow/lite/tools/benchmark/profiling_listener.cc
# `ProfilingListener::OnBenchmarkEnd` heads the two profiles with these lines.
PROFILE_SECTIONS = (
    (re.compile(r"Profiling Info for Benchmark Initialization"), "init"),
    (re.compile(r"Operator-wise Profiling Info for Regular Benchmark Runs"), "regular"),
)
# tensorflow/tensorflow tensorflow/lite/profiling/profile_summary_formatter.cc
# `GenerateReport`: graphs are named only when the model has several subgraphs, and the
# delegate's own profile (XNNPACK's internal ops, ...) follows as "Delegate internal:".
PROFILE_PRIMARY_GRAPH = re.compile(r"^Primary graph (?:profile|summary):")
PROFILE_SUBGRAPH = re.compile(r"^Subgraph \(index: (?P<index>\d+)\) (?:profile|summary):")
PROFILE_DELEGATE_INTERNAL = re.compile(r"^Delegate internal:")
# tensorflow/tensorflow third_party/xla/xla/tsl/util/stats_calculator.cc (formerly
# tensorflow/core/util/stats_calculator.cc) `HeaderString` / `GetStatsByNodeType`:
#   "============================== Run Order =============================="
# then a header of bracketed column names, tab-separated:
#   "\t[node type]\t[first]\t[avg ms]\t[%]\t[cdf%]\t[mem KB]\t[times called]\t[Name]"
#   "\t[Node type]\t[count]\t[avg ms]\t[avg %]\t[cdf %]\t[mem KB]\t[times called]"
# (older builds had a "[start]" column after the node type), or with
# --op_profiling_output_mode=csv a comma-separated header "node type, first, avg_ms, %, ...".
# A banner's rules are runs of at least five "=" (read by `_banner_title`).
BANNER_RULE = "====="
PROFILE_TEXT_HEADER = re.compile(r"(?i)^\s*\[node type\]")
PROFILE_CSV_HEADER = re.compile(r"(?i)^\s*node type\s*,")
PROFILE_TABLE_NAMES = {
    "run order": "run_order",
    "top by computation time": "top_by_computation_time",
    "top by memory use": "top_by_memory_use",
    "summary by node type": "summary_by_node_type",
}
# Column header (lower-cased, spaces and underscores removed) -> dict key.
PROFILE_COLUMN_KEYS = {
    "start": "start_ms",
    "first": "first_ms",
    "avgms": "avg_ms",
    "%": "pct",
    "avg%": "pct",
    "cdf%": "cdf_pct",
    "memkb": "mem_kb",
    "timescalled": "times_called",
    "count": "count",
}
PROFILE_INTEGER_KEYS = ("count", "times_called")
# The widest table has 8 columns after the node type ("[start]" of older builds included); a
# "header" with many more is no table's, and its row pattern would cost columns x line length.
MAX_PROFILE_COLUMNS = 16
# Between fields: tabs padded with spaces (text) or ", " (csv). A node type may itself hold
# commas and spaces ("Convolution (NHWC, QC8) GEMM"), so rows are matched from the numbers.
PROFILE_SEPARATOR = r"(?:\s*,\s*|\s+)"
# The short summary that closes each profile: "Timings (microseconds): count=.." (a Stat line
# that must not be taken for the benchmark's own), "Memory (bytes): ..", "171 nodes observed".
PROFILE_SHORT_SUMMARY = re.compile(
    r"^(?:Subgraph \(index: \d+\) )?(?:Timings \(microseconds\)|Memory \(bytes\)):"
    r"|^\d+ nodes observed|^Number of nodes executed:"
)


def parse_op_profile(text):
    """The rows of the operator-profiling tables (`--enable_op_profiling=true`) in `text`.

    Each row is a dict with `section` ("init": profile of the initialisation, "regular": of
    the measured runs), `graph` ("primary", "subgraph N" or "delegate internal"), `table`
    ("run_order", "top_by_computation_time", "top_by_memory_use", "summary_by_node_type"),
    `node_type`, and the table's numeric columns: per-op tables `first_ms`, `avg_ms`, `pct`,
    `cdf_pct`, `mem_kb`, `times_called`, `name` (and `start_ms` in older builds); the node
    type summary `count`, `avg_ms`, `pct`, `cdf_pct`, `mem_kb`, `times_called`. The text,
    csv, plain and logcat-prefixed forms are all read. No tables: an empty list.
    """
    return _op_profile_from_lines(log_lines(text))


def _banner_title(line):
    r"""The title of a table banner ("===== Run Order =====": "Run Order"), "" for a line of
    ten or more "=" alone, None for any other line.

    String methods, not the regex `^\s*={5,}\s*(?P<title>.*?)\s*={5,}\s*$`: that one tries
    every way of sharing a long run of "=" between its two rules and the title, cubic in the
    run's length (issue 25). This gives what the regex matched, and the same title.
    """
    text = line.strip()
    if not (text.startswith(BANNER_RULE) and text.endswith(BANNER_RULE)):
        return None
    title = text.strip("=")
    if not title:  # "=" alone: the two rules meet, with no title between
        return "" if len(text) >= 2 * len(BANNER_RULE) else None
    return title.strip()


def _profile_columns(header):
    """The dict keys of a table's columns after the node type, and whether a name follows."""
    if PROFILE_TEXT_HEADER.match(header):
        # `[^\[\]]`, not `[^\]]`: from each of many "[" without a "]" that reads to the line's end.
        names = re.findall(r"\[([^\[\]]+)\]", header)
    else:
        names = header.split(",")
    normalised = [re.sub(r"[\s_]", "", name).lower() for name in names[1:]]
    has_name = bool(normalised) and normalised[-1] == "name"
    if has_name:
        normalised = normalised[:-1]
    keys = [PROFILE_COLUMN_KEYS.get(name, name) for name in normalised]
    return keys, has_name


def _profile_row_pattern(count, has_name):
    r"""A row: the node type (which may hold spaces and commas), `count` numbers (percentages
    with a "%"), then the op's name when the table has one.

    The node type and the name end at a non-space character, so that the spaces after them
    are read by the separator or the final `\s*` alone: a field that may end inside a run of
    spaces makes the pattern reread the rest of the run from every position in it.
    """
    numbers = "".join(rf"{PROFILE_SEPARATOR}(?P<c{i}>{NUMBER})%?" for i in range(count))
    name = rf"(?:{PROFILE_SEPARATOR}(?P<name>\S(?:.*\S)?))?" if has_name else ""
    return re.compile(rf"^\s*(?P<node_type>\S|\S.*?\S){numbers}{name}\s*$")


def _op_profile_from_lines(lines):
    """`parse_op_profile` on lines already stripped of their log prefixes."""
    rows = []
    section, graph, table = None, "primary", None
    columns = row_pattern = None
    for line in lines:
        message = line.message
        stripped = message.strip()

        section_match = next((name for pattern, name in PROFILE_SECTIONS if pattern.search(stripped)), None)
        if section_match:
            section, graph, table, row_pattern = section_match, "primary", None, None
            continue
        if section is None:
            # TF <= 1.14 printed the tables with no heading (after the stats lines or the
            # "Average inference timings" line), and so does LiteRT's --use_profiler summary:
            # a known table banner opens the profile of the measured runs. Other banners
            # ("BENCHMARK RESULTS") do not.
            title = _banner_title(stripped)
            if title is None or title.lower() not in PROFILE_TABLE_NAMES:
                continue
            section = "regular"
        if PROFILE_PRIMARY_GRAPH.match(stripped):
            graph, table, row_pattern = "primary", None, None
            continue
        subgraph = PROFILE_SUBGRAPH.match(stripped)
        if subgraph:
            graph, table, row_pattern = f"subgraph {subgraph['index']}", None, None
            continue
        if PROFILE_DELEGATE_INTERNAL.match(stripped):
            graph, table, row_pattern = "delegate internal", None, None
            continue
        title = _banner_title(stripped)
        if title is not None:
            title = title.lower()
            table = PROFILE_TABLE_NAMES.get(title, re.sub(r"\W+", "_", title).strip("_"))
            row_pattern = None
            continue
        if table is None:
            continue
        if not stripped or PROFILE_SHORT_SUMMARY.match(stripped):
            table, row_pattern = None, None  # a table ends at its blank line
            continue
        if PROFILE_TEXT_HEADER.match(stripped) or PROFILE_CSV_HEADER.match(stripped):
            columns, has_name = _profile_columns(stripped)
            row_pattern = _profile_row_pattern(len(columns), has_name) if len(columns) <= MAX_PROFILE_COLUMNS else None
            continue
        if row_pattern is None:
            continue
        match = row_pattern.match(message)
        if not match:
            continue
        row = {"section": section, "graph": graph, "table": table, "node_type": match["node_type"].strip()}
        for index, key in enumerate(columns):
            value = number(match[f"c{index}"])
            row[key] = int(value) if key in PROFILE_INTEGER_KEYS and value is not None else value
        if "name" in match.groupdict():
            row["name"] = match["name"]
        rows.append(row)
    return rows
