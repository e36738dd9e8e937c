"""The one table every benchmark here writes: a row per (device, model, delegate, threads).

Android rows (`run.py`), host rows (`host.py`) and peer rows (`compare.py`) share
these columns, so they can be printed, saved and plotted together. A failed
measurement is a row too: `status` "failed" and `reason` saying why.
"""

from swiftformer_keras.utils.files import write_csv_atomically, write_json_atomically
from swiftformer_keras.utils.tables import markdown_table

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


def write_csv(rows, path):
    return write_csv_atomically(path, [make_row(**row) for row in rows], COLUMNS)


def write_json(rows, path, **extra):
    return write_json_atomically(path, {**extra, "rows": [make_row(**row) for row in rows]})
