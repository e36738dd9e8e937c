"""The one table every benchmark here writes: a row per (device, model, delegate, threads).

Android rows (`run.py`), host rows (`host.py`) and peer rows (`compare.py`) share
these columns, so they can be printed, saved and plotted together. A failed
measurement is a row too: `status` "failed" and `reason` saying why.
"""

from swiftformer_keras.utils import charts
from swiftformer_keras.utils.files import write_benchmark_result
from swiftformer_keras.utils.tables import markdown_table, results_page

COLUMNS = (
    "source",  # "android", "host-binary" (benchmark_model on this machine), "host-python"
    "device",  # adb serial, or the host's name
    "device_model",  # ro.product.model, or the host CPU model
    "soc",  # ro.soc.model / ro.board.platform
    "android",  # ro.build.version.release (and SDK), None on the host
    "model",  # the .tflite file's name
    "delegate",  # xnnpack, nnapi, gpu, cpu (no delegate) / none
    "threads",
    "runtime",  # host-python: the TFLite interpreter and its version, e.g. "litert 2.3.0"
    "status",  # "ok" or "failed"
    "reason",  # why it failed, or warnings worth keeping (e.g. a delegate that fell back)
    "runs",  # measured inference runs
    "init_ms",  # interpreter / delegate initialisation
    "first_ms",  # first inference
    "warmup_avg_ms",
    "avg_ms",  # mean of the measured runs
    "std_ms",
    "min_ms",
    "median_ms",
    "p5_ms",
    "p95_ms",
    "max_ms",
    "memory_mb",  # peak memory footprint (benchmark_model: overall peak; host: peak RSS growth)
    "delegated_nodes",  # nodes the delegate took
    "total_nodes",
    "partitions",  # delegate partitions
)
# What one benchmark_model run says of itself: the columns `parse.parse_benchmark_output` fills.
MEASUREMENT_COLUMNS = COLUMNS[COLUMNS.index("status") :]
# The columns that hold text; the others hold numbers, right-aligned in the Markdown table.
TEXT_COLUMNS = (
    "source",
    "device",
    "device_model",
    "soc",
    "android",
    "model",
    "delegate",
    "runtime",
    "status",
    "reason",
)

# The columns of the results page: what a reader compares (the CSV and JSON keep every column).
PAGE_COLUMNS = (
    "device_model",
    "soc",
    "android",
    "model",
    "delegate",
    "threads",
    "status",
    "reason",
    "init_ms",
    "first_ms",
    "median_ms",
    "p5_ms",
    "p95_ms",
    "memory_mb",
    "delegated_nodes",
    "total_nodes",
    "partitions",
)
# Columns the page shows only where the rows differ in them (one device: its name is in the heading).
VARYING_COLUMNS = ("device_model", "soc", "android")


def make_row(**fields):
    """A row with every column; unknown column names are refused (they would be lost)."""
    unknown = sorted(set(fields) - set(COLUMNS))
    if unknown:
        raise ValueError(f"Unknown benchmark columns {unknown}; the columns are {COLUMNS}.")
    return {column: fields.get(column) for column in COLUMNS}


def failed_row(reason, **fields):
    """The row of a measurement that could not be made, with its reason."""
    return make_row(status="failed", reason=reason, **fields)


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def markdown(rows, columns=None):
    """Rows as a Markdown table, numbers right-aligned; by default only the columns some row fills."""
    columns = columns or [c for c in COLUMNS if any(row.get(c) not in (None, "") for row in rows)]
    align = "".join("l" if column in TEXT_COLUMNS else "r" for column in columns)
    return markdown_table(columns, [[_cell(row.get(c)) for c in columns] for row in rows], align=align)


def page_columns(rows):
    """The results page's columns for `rows`: the filled ones of `PAGE_COLUMNS`, the device's only
    where more than one device was measured."""
    filled = [c for c in PAGE_COLUMNS if any(row.get(c) not in (None, "") for row in rows)]
    return [c for c in filled if c not in VARYING_COLUMNS or len({row.get(c) for row in rows}) > 1]


def plot(rows, path):
    """The chart of a results page: each measured configuration's median ms, grouped by model."""
    measured = [row for row in rows if row.get("median_ms") is not None]
    several = len({row.get("device") for row in measured}) > 1

    def label(row):
        device = f"{row.get('device_model') or row.get('device')}, " if several else ""
        return f"{device}{row['delegate']}, {row['threads']} thread(s)"

    models = list(dict.fromkeys(row["model"] for row in measured))
    labels = list(dict.fromkeys(label(row) for row in measured))
    series = {
        name: [next((r["median_ms"] for r in measured if r["model"] == m and label(r) == name), None) for m in models]
        for name in labels
    }
    return charts.grouped_bars(path, models, series, "median ms per inference (lower is better)", "benchmark rows")


def write_result(folder, stem, rows, title, command, machine, notes=(), **extra):
    """Writes the rows as one result (`files.write_benchmark_result`; `files.benchmark_result_paths`
    names its files): `<stem>.json` (with
    `command` and `extra`), `.csv`, `.md` (the results page: date, `machine`, `command`, the table)
    and `.png`, the chart, where some row was measured. Returns the paths written."""
    rows = [make_row(**row) for row in rows]
    chart = any(row["median_ms"] is not None for row in rows)
    table = markdown(rows, page_columns(rows))
    page = results_page(title, command, machine, [("rows", table)], chart=f"{stem}.png" if chart else None, notes=notes)
    data = {"command": command, **extra, "rows": rows}
    draw = (lambda temp: plot(rows, temp)) if chart else None
    return write_benchmark_result(folder, stem, data, rows, page, plot=draw)
