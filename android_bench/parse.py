"""Parse the text that TensorFlow Lite's `benchmark_model` prints into one benchmark row.

The same tool exists as a command-line binary (`adb shell benchmark_model ...`,
stdout/stderr) and as the benchmark APK (`BenchmarkModelActivity`, which logs
through logcat with the tag `tflite`). Both print, in this order:

    INFO: STARTING!                                     (parameters, model loading)
    VERBOSE: Replacing 120 out of 137 node(s) with delegate (...) node, yielding 5 partitions ...
    INFO: Explicitly applied XNNPACK delegate, and the model graph will be ... executed ...
    INFO: Initialized session in 11.852ms.
    INFO: Running benchmark for at least 1 iterations and at least 0.5 seconds ...
    INFO: count=70 first=8762 curr=7110 min=7020 max=8990 avg=7401.62 std=150       (warm-up)
    INFO: Running benchmark for at least 50 iterations and at least 1 seconds ...
    INFO: count=140 first=7250 curr=7110 min=7020 max=7990 avg=7204.6 std=150 ...   (inference)
    INFO: Inference timings in us: Init: 11852, First inference: 8762, Warmup (avg): 7401.62, Inference (avg): 7204.6
    INFO: Memory footprint delta from the start of the tool (MB): init=3.5 overall=25.1
    INFO: Overall peak memory footprint (MB) via periodic monitoring: 31.2
    (with --enable_op_profiling=true: operator tables, read by android_bench/op_profile.py)

LiteRT's CompiledModel tool (litert/tools:benchmark_model) prints the same run lines (in some
builds none of them) and then its own summary in milliseconds, "========== BENCHMARK RESULTS
==========" with "Inference (avg): 0.46 ms (2112 runs)", "Overall footprint: 11.51 MB", ...;
see LITERT_SUMMARY_LINE.

`parse_benchmark_output` turns such a text into the timing, memory and delegation
columns of `android_bench.rows.COLUMNS` (times in milliseconds; the tool prints
microseconds). `log_lines` strips the log prefixes (the binary's, logcat's, glog's) off
each line; `android_bench.op_profile` reads the operator tables of the same lines. Every
format variant handled here was read from the tool's sources; each regex names the
file it follows. Parsing never raises: a text that holds no inference result (empty,
truncated, garbage, a delegate that failed) gives status "failed" and a reason.
"""

import math
import re
from collections import namedtuple

from android_bench.rows import MEASUREMENT_COLUMNS

__all__ = ["parse_benchmark_output", "log_lines", "number"]

# The columns this parser fills, in `android_bench.rows.COLUMNS` order. The result always has
# all of them (None where the text does not say), so callers get one stable shape.
RESULT_KEYS = MEASUREMENT_COLUMNS

# A number as C++ iostreams print it with the default precision of 6 significant digits:
# "7204.6", "11852", "1.68659e+06" (values of a million microseconds and more), "nan"/"-nan"
# (the average of zero runs).
NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[-+]?nan|[-+]?inf"

# Longest message kept per error or warning in `reason`: a flag-parsing error prints the
# whole usage text as one message.
MAX_MESSAGE_CHARS = 300

# Every pattern below runs in time linear in the text it reads, whatever the text (issue 25:
# a pattern that began with `\S+` took 39 s on 100 kB of "x"). Python's `re` backtracks, so:
# a search starts with a literal (or is tried at token starts only), a run of one character
# class is read by one quantifier only (never `\s+(?P<tag>[^:]*?)\s*:`, which rereads a run of
# spaces for every way of splitting it), and a lazy field before a literal has a bound.
# tests/android_bench/test_parse.py section 12 feeds each one the inputs that used to take minutes.


# --------------------------------------------------------------------------------------
# Log prefixes
# --------------------------------------------------------------------------------------

# `adb logcat` default ("threadtime") format, optionally with the year (`-v year`):
#   "11-24 10:00:00.123  1234  1234 I tflite  : Inference timings in us: ..."
# The benchmark APK logs every line under the tag "tflite"
# (tensorflow/tensorflow tensorflow/lite/tools/logging.h, `__android_log_print(..., "tflite", ...)`;
# tensorflow/lite/tools/benchmark/android/README.md: `adb logcat | grep "Inference timings in us"`).
# The tag is all up to the first colon, padding included (it is only searched for words): the
# former `\s+(?P<tag>[^:]*?)\s*:` split a run of spaces every way, cubic in its length.
LOGCAT_THREADTIME = re.compile(
    r"^(?:\d{4}-)?\d{2}-\d{2}\s+\d{2}:\d{2}:\d{2}\.\d+\s+\d+\s+\d+\s+"
    r"(?P<level>[VDIWEFA])\s(?P<tag>[^:]*):(?:\s|$)(?P<message>.*)$"
)
# `adb logcat -v brief` / `-v time`: "I/tflite  ( 1234): message", maybe after a timestamp.
# The tag is all up to the first "(", padding included, as above.
LOGCAT_BRIEF = re.compile(
    r"^(?:(?:\d{4}-)?\d{2}-\d{2}\s+\d{2}:\d{2}:\d{2}\.\d+\s+)?"
    r"(?P<level>[VDIWEFA])/(?P<tag>[^(]*)\(\s*\d+\):(?:\s|$)(?P<message>.*)$"
)
# Android Studio's Logcat window, copied:
#   "2026-03-10 17:01:31.105 22716-23089 tflite   com.example.app   I  Replacing ..."
# and with the date hidden (its "Format" menu can show the time only):
#   "10:04:31.319  2638-2638  tflite  org.tensorflow.lite.benchmark  I  count=50 first=..."
# The "pid-tid" pair tells it from the threadtime format, whose pid and tid are apart.
LOGCAT_STUDIO = re.compile(
    r"^(?:\d{4}-\d{2}-\d{2}\s+)?\d{2}:\d{2}:\d{2}\.\d+\s+\d+-\d+\s+(?P<tag>\S+)\s+(?:\S+\s+)?"
    r"(?P<level>[VDIWEFA])\s+(?P<message>.*)$"
)
# Logcat lines of other tags say nothing about this benchmark (a full `adb logcat -d` holds
# every app's errors); only the TFLite / LiteRT / benchmark activity tags are read.
RELEVANT_LOGCAT_TAG = re.compile(r"(?i)tflite|litert|benchmark")
LOGCAT_SEVERITY = {"V": "VERBOSE", "D": "DEBUG", "I": "INFO", "W": "WARNING", "E": "ERROR", "F": "ERROR", "A": "ERROR"}

# glog / absl prefixes (TensorFlow's own logging, LiteRT's C++ logging):
#   "2018-09-10 12:36:26.109144: I tensorflow/tools/benchmark/benchmark_model.cc:327] message"
#   "I0000 00:00:1773133291.105033   23090 file.cc:372] message"
GLOG_PREFIX = re.compile(
    r"^(?:\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d+: (?P<level>[IWEF]) "
    r"|(?P<level2>[IWEF])\d{4} \S+\s+\d+ )\S+:\d+\] (?P<message>.*)$"
)

# The severity prefix of the tool's own lines (tensorflow/tensorflow
# tensorflow/lite/tools/logging.h: "INFO: ", "WARN: ", "ERROR: ", "FATAL: ") and of the
# runtime's (tensorflow/lite/minimal_logging.cc `GetSeverityName`: "VERBOSE", "INFO",
# "WARNING", "ERROR"). Older builds printed the tool's lines with no prefix at all.
SEVERITY_PREFIX = re.compile(r"^(?P<severity>INFO|WARN|WARNING|ERROR|FATAL|VERBOSE|DEBUG):\s?")
SEVERITY_ALIASES = {"WARN": "WARNING", "FATAL": "ERROR"}
# LiteRT's own logging (google-ai-edge/LiteRT litert/c/internal/litert_logging.h, LITERT_LOG)
# puts the source location after the severity:
#   "INFO: [./litert/tools/benchmark_litert_model.h:88] Inference (avg):      0.46 ms (2112 runs)"
LITERT_LOCATION = re.compile(r"^\[[^\]\s]+:\d+\]\s?")

LogLine = namedtuple("LogLine", "severity message")


# --------------------------------------------------------------------------------------
# Timings
# --------------------------------------------------------------------------------------

# tensorflow/tensorflow tensorflow/lite/tools/benchmark/benchmark_model.cc `BenchmarkModel::Run`
# (same in google-ai-edge/LiteRT tflite/tools/benchmark/benchmark_model.cc) logs this before
# each of its two loops, the warm-up runs and then the measured (inference) runs. Older
# builds: "Running benchmark for 50 iterations", TF's tool: "... for max 1000 iterations".
RUNNING_BENCHMARK = re.compile(r"^Running benchmark for (?:at least |max )?\d+ iterations")

# The statistics line that follows: `Stat::OutputToStream`
# (tensorflow/tensorflow third_party/xla/xla/tsl/util/stats_calculator.h, formerly
# tensorflow/core/util/stats_calculator.h):
#   "count=0"                                              no runs
#   "count=1 curr=12345"                                   all values equal (count 1) ...
#   "count=50 curr=12345(all same)"                        ... (count > 1; no space before it)
#   "count=50 first=.. curr=.. min=.. max=.. avg=.. std=.."
# `StatWithPercentiles` (LiteRT's benchmark_model.cc, current TensorFlow) appends
#   " p5=.. median=.. p95=..".
# Builds before `first` was added printed "curr=.. count=.. min=.. max=.. avg=.. std=..",
# so the fields are read as key=value pairs in any order.
STATS_LINE = re.compile(r"^(?:count|curr)=")
STATS_FIELD = re.compile(rf"\b(?P<key>count|first|curr|min|max|avg|std|p5|median|p95)=(?P<value>{NUMBER})")
ALL_SAME_MARK = "(all same)"

# tensorflow/tensorflow tensorflow/lite/tools/benchmark/benchmark_model.cc
# `BenchmarkLoggingListener::OnBenchmarkEnd`:
#   "Inference timings in us: Init: 11852, First inference: 8762, Warmup (avg): 7401.62,
#    Inference (avg): 7204.6"
# Older tools and the older APK listener (tensorflow/lite/tools/benchmark/android/jni/
# benchmark_model_jni.cc, logged at logcat level E):
#   "Average inference timings in us: Warmup: 146161, Init: 4452, no stats: 137722"
#   "Average inference timings in us: Warmup: 91471, Init: 4108, Inference: 80660.1Overall max ..."
# and the oldest: "Average inference timings in us: 137722 , Warmup: 146161,".
TIMINGS_SUMMARY = re.compile(r"(?:Average inference|Inference) timings in us:(?P<body>.*)$")
TIMINGS_FIELD = re.compile(
    r"(?P<key>Init|First inference|Warmup \(avg\)|Warmup|Inference \(avg\)|Inference|no stats)"
    rf":\s*(?P<value>{NUMBER})"
)
TIMINGS_BARE_AVERAGE = re.compile(rf"^\s*(?P<value>{NUMBER})\s*,")
TIMINGS_KEYS = {
    "Init": "init",
    "First inference": "first",
    "Warmup (avg)": "warmup_avg",
    "Warmup": "warmup_avg",
    "Inference (avg)": "avg",
    "Inference": "avg",
    "no stats": "avg",
}

# benchmark_model.cc `BenchmarkModel::Run`: "Initialized session in 11.852ms." (milliseconds),
# the initialisation time when the summary line is missing.
INITIALIZED_SESSION = re.compile(rf"^Initialized session in (?P<ms>{NUMBER})\s*ms")

# tensorflow/tensorflow tensorflow/lite/tools/benchmark/benchmark_main.cc: the tool's verdict
# when `BenchmarkModel::Run` returned an error (also after the timings, when an invoke failed).
BENCHMARKING_FAILED = re.compile(r"^Benchmarking failed")

# LiteRT's CompiledModel tool (google-ai-edge/LiteRT litert/tools/benchmark_litert_model.h,
# `BenchmarkLoggingListener::OnBenchmarkEnd`) prints its own summary, in milliseconds, "%.2f":
#   "========== BENCHMARK RESULTS =========="
#   "Model initialization: 4.48 ms"
#   "Warmup (first):       1.03 ms"
#   "Warmup (avg):         0.47 ms (1055 runs)"
#   "Inference (avg):      0.46 ms (2112 runs)"
#   "Inference (min):      0.44 ms"       (min, max and std only when there were runs;
#   "Inference (max):      0.98 ms"        std without its unit, also milliseconds)
#   "Inference (std):      0.01"
# Some builds print only this block, without the stats and "Inference timings" lines, so it
# is a result on its own. LiteRT's Python tool (litert/python/tools/benchmark_litert_model.py)
# prints the same lines plus "Inference (median|p5|p95):".
LITERT_SUMMARY_LINE = re.compile(
    r"^(?P<key>Model initialization|Warmup \(first\)|Warmup \(avg\)"
    r"|Inference \((?:avg|min|max|std|median|p5|p95)\)):\s*"
    rf"(?P<ms>{NUMBER})(?:\s*ms)?(?:\s*\((?P<runs>\d+) runs\))?\s*$"
)
LITERT_SUMMARY_KEYS = {
    "Model initialization": "init",
    "Warmup (first)": "first",
    "Warmup (avg)": "warmup_avg",
    "Inference (avg)": "avg",
    "Inference (min)": "min",
    "Inference (max)": "max",
    "Inference (std)": "std",
    "Inference (median)": "median",
    "Inference (p5)": "p5",
    "Inference (p95)": "p95",
}
# ... and, for zero runs, instead of min/max/std:
LITERT_NO_RUNS = re.compile(r"^No inference runs were performed")


# --------------------------------------------------------------------------------------
# Memory
# --------------------------------------------------------------------------------------

# benchmark_model.cc `BenchmarkLoggingListener::OnBenchmarkEnd`:
#   "Memory footprint delta from the start of the tool (MB): init=3.5 overall=25.1"
# older builds: "Peak memory footprint (MB): init=6.44141 overall=64.8633" (the same delta)
MEMORY_DELTA = re.compile(
    r"(?:Memory footprint delta from the start of the tool|^Peak memory footprint) \(MB\): "
    rf"init=(?P<init>{NUMBER}) overall=(?P<overall>{NUMBER})"
)
# with --report_peak_memory_footprint=true:
#   "Overall peak memory footprint (MB) via periodic monitoring: 31.2"
PEAK_MEMORY = re.compile(rf"Overall peak memory footprint \(MB\) via periodic monitoring: (?P<mb>{NUMBER})")
# the older APK listener appends `MemoryUsage::AllStatsToStream`
# (tensorflow/lite/profiling/memory_info.cc) to its timings line:
#   "...Overall max resident set size/physical footprint = 52.1 MB, total malloc-ed size = ..."
APK_OVERALL_MEMORY = re.compile(rf"Overall max resident set size(?:/physical footprint)? = (?P<mb>{NUMBER}) MB")
# LiteRT's summary (benchmark_litert_model.h, see LITERT_SUMMARY_LINE), under "Memory Usage:":
#   "Overall footprint:    7.07 MB"   the same overall delta as MEMORY_DELTA's (both print
#                                     `BenchmarkResults::overall_mem_usage()`)
#   "Peak memory:          35.20 MB"  the periodic peak, as PEAK_MEMORY's
LITERT_OVERALL_MEMORY = re.compile(rf"^Overall footprint:\s*(?P<mb>{NUMBER})\s*MB")
LITERT_PEAK_MEMORY = re.compile(rf"^Peak memory:\s*(?P<mb>{NUMBER})\s*MB")


# --------------------------------------------------------------------------------------
# Delegation
# --------------------------------------------------------------------------------------

# The interpreter's own line (tensorflow/lite/core/subgraph.cc
# `Subgraph::ReplaceNodeSubsetsWithDelegateKernels`; INFO on Android, VERBOSE elsewhere):
#   "Replacing 120 out of 137 node(s) with delegate (TfLiteXNNPackDelegate) node, yielding
#    5 partitions for the whole graph."          ("for subgraph 1." for other subgraphs)
# older: "Replacing 120 node(s) with delegate (TfLiteGpuDelegateV2) node, yielding 5 partitions."
# LiteRT's GPU accelerator: "Replacing 572 out of 1789 node(s) with delegate (LITERT_CL),
# yielding 2 partitions". The partition count counts every node subset of the split graph,
# the ones left to the CPU included. (The delegate name's `[^)]*` is linear as it is: it
# stops at the next "node(s)" at the latest.)
REPLACING_NODES = re.compile(
    r"Replacing (?P<taken>\d+)(?: out of (?P<total>\d+))? node\(s\) with delegate "
    r"\((?P<delegate>[^)]*)\)(?: node)?,? yielding (?P<partitions>\d+) partitions?"
    r"(?: for (?:the whole graph|subgraph (?P<subgraph>\d+)))?"
)
# benchmark_model's summary after applying each delegate (tensorflow/tensorflow
# tensorflow/lite/tools/benchmark/benchmark_tflite_model.cc `BenchmarkTfLiteModel::Init`;
# google-ai-edge/LiteRT tflite/tools/benchmark/benchmark_tflite_model.cc). Its kernel count is
# the number of delegate partitions proper. The provider's name (`DelegateProvider::GetName()`:
# "XNNPACK", "GPU", "NNAPI", "Hexagon", "CoreML", ...) is a word or two; its bound keeps a line
# that repeats "Explicitly applied " from being read to its end once per repetition.
PROVIDER_NAME = r".{1,64}?"
DELEGATE_COMPLETE = re.compile(
    rf"Explicitly applied (?P<delegate>{PROVIDER_NAME}) delegate, and the model graph will be"
    r" completely executed by the delegate"
)
DELEGATE_PARTIAL = re.compile(
    rf"Explicitly applied (?P<delegate>{PROVIDER_NAME}) delegate, and the model graph will be"
    r" partially executed by the delegate w/ (?P<kernels>\d+) delegate kernels"
)
DELEGATE_UNUSED = re.compile(
    rf"Though (?P<delegate>{PROVIDER_NAME}) delegate is explicitly applied, the model graph will"
    r" not be executed by the delegate"
)
# Qualcomm's QNN delegate's own summary: "TfLiteQnnDelegate delegate: 357 nodes delegated out
# of 357 nodes with 1 partitions." The name is tried from the start of a word only (`(?<!\S)`):
# a bare `\S+` is tried at every position of a long word and rereads the rest of it each time
# (39 s for 100 kB of "x", issue 25). A match inside a word would be one from its start too.
QNN_DELEGATION = re.compile(
    r"(?<!\S)(?P<delegate>\S+) delegate: (?P<taken>\d+) nodes delegated out of (?P<total>\d+)"
    r" nodes with (?P<partitions>\d+) partitions"
)
# The delegate behind a kernel name (the "Replacing" line) or a provider name (the summary),
# for telling two delegates of one run apart: TfLiteGpuDelegateV2 / LITERT_CL / GPU, ...
DELEGATE_KINDS = (
    ("xnnpack", r"(?i)xnnpack"),
    ("nnapi", r"(?i)nn ?api"),
    ("gpu", r"(?i)gpu|litert_cl|opencl"),
    ("hexagon", r"(?i)hexagon"),
    ("coreml", r"(?i)core ?ml"),
    ("qnn", r"(?i)qnn"),
)
# tensorflow/lite/core/subgraph.cc `ModifyGraphWithDelegateImpl`: the delegate's Prepare failed
# and every delegate was removed again, so whatever "Replacing" said before no longer holds.
DELEGATION_RESTORED = re.compile(r"Restored original execution plan after delegate application")


# --------------------------------------------------------------------------------------
# Errors and warnings
# --------------------------------------------------------------------------------------

# Lines without a severity (older builds printed the tool's lines bare) are sorted by their
# wording. Errors: "Failed to apply XNNPACK delegate.", "Benchmarking failed.", "Failed to
# initialize the interpreter", "Failed to allocate tensors!", "Failed to mmap model ...",
# "Disallowed CPU fallback detected." (benchmark_tflite_model.cc), "Node number 5
# (TfLiteGpuDelegateV2) failed to prepare.", "NN API returned error ...", "NNAPI delegate failed".
ERROR_WORDING = re.compile(
    r"(?i)\bfailed to\b|\bfailed\.$|\bdisallowed cpu fallback\b|\brestored original execution"
    r" plan\b|\bnn ?api returned error\b|\bdelegate (?:failed|error)\b|\bsegmentation fault\b"
    r"|\baborted\b|\bcannot\b|\bcould not\b|\bunable to\b"
)
# ... except this one, which benchmark_model.cc logs as a mere WARN.
HARMLESS_FAILURE = re.compile(r"Failed to get the input model file size")
# Warnings worth keeping even at INFO level: a delegate that took nothing or is missing
# ("GPU acceleration is unsupported on this platform." from tensorflow/lite/tools/delegates/
# gpu_delegate_provider.cc, "NNAPI acceleration is unsupported ..." from
# nnapi_delegate_provider.cc), and flags the tool ignored.
WARNING_WORDING = re.compile(
    r"(?i)\bis unsupported on this platform\b|\bwill not be executed by the delegate\b"
    r"|\bunconsumed cmdline flags?\b|\bunrecognized command ?line flag\b|\bfall(?:ing)? ?back\b"
    r"|\bnot supported\b"
)


# --------------------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------------------


def parse_benchmark_output(text):
    """The benchmark row fields found in `benchmark_model` output or the APK's logcat.

    Returns a dict with every key of `RESULT_KEYS` (None where the text does not say):
    `status` "ok" when an inference average was found (and the tool did not end with
    "Benchmarking failed."), else "failed"; `reason` the errors and warnings the tool
    logged, joined by "; " (or, for a failure the tool did not explain, why the text holds
    no result), None when there are none; times in milliseconds; `runs`, `std_ms`, the
    extremes and percentiles of the measured inference runs, never of the warm-up runs;
    `memory_mb` the overall peak via periodic monitoring, else the overall footprint delta
    (LiteRT: "Peak memory", else "Overall footprint");
    `delegated_nodes` / `total_nodes` / `partitions` from the delegation lines. The
    operator-profiling tables the text may hold are `op_profile.parse_op_profile`'s.
    Never raises.
    """
    try:
        return _parse(text)
    except Exception as error:  # noqa: BLE001 - a parser bug must not take a whole benchmark sweep down
        result = dict.fromkeys(RESULT_KEYS)
        result.update(status="failed", reason=f"could not parse the benchmark output ({type(error).__name__}: {error})")
        return result


def log_lines(text):
    """The messages of `text` (str, bytes or None) without their log prefixes, each a
    `LogLine` with its severity (None where the line names none).

    adb on some devices ends lines with "\\r\\r\\n"; they are normalised first so that they
    do not turn into the blank lines that end operator tables.
    """
    text = _as_text(text)
    # A run of "\r" is tried from its first "\r" only (`(?<!\r\r)`): `\r+\n` retried from each "\r"
    # of a long run without "\n" is quadratic. The leading literal lets `re` skip to each "\r".
    text = re.sub(r"\r(?<!\r\r)\r*\n", "\n", text).replace("\r", "\n")
    lines = []
    for raw in text.split("\n"):
        severity, message = None, raw
        logcat = LOGCAT_THREADTIME.match(raw) or LOGCAT_STUDIO.match(raw) or LOGCAT_BRIEF.match(raw)
        if logcat:
            if not RELEVANT_LOGCAT_TAG.search(logcat["tag"]):
                continue
            severity, message = LOGCAT_SEVERITY[logcat["level"]], logcat["message"]
        else:
            glog = GLOG_PREFIX.match(raw)
            if glog:
                severity = LOGCAT_SEVERITY[glog["level"] or glog["level2"]]
                message = glog["message"]
        prefix = SEVERITY_PREFIX.match(message)
        if prefix:
            severity = SEVERITY_ALIASES.get(prefix["severity"], prefix["severity"])
            message = message[prefix.end() :]
        location = LITERT_LOCATION.match(message)
        if location:
            message = message[location.end() :]
        lines.append(LogLine(severity, message))
    return lines


def number(text):
    """A printed number as a float, None for nan/inf (the average of zero runs) or junk."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


# --------------------------------------------------------------------------------------
# Implementation
# --------------------------------------------------------------------------------------


def _as_text(text):
    """`text` as a str: bytes are decoded leniently (adb output is not always clean UTF-8)."""
    if text is None:
        return ""
    if isinstance(text, (bytes, bytearray)):
        return bytes(text).decode("utf-8", errors="replace")
    return text if isinstance(text, str) else str(text)


def _ms(microseconds):
    """Microseconds as milliseconds, rounded below the tool's own precision (float noise off)."""
    return None if microseconds is None else round(microseconds / 1000.0, 9)


def _parse_stats(message):
    """A `Stat::OutputToStream` line as a dict of microseconds (count as int), or None.

    When all values were equal the tool prints only `curr` (and `count`); then every
    statistic is that value and the deviation is 0, so they are filled in as such.
    """
    fields = {match["key"]: match["value"] for match in STATS_FIELD.finditer(message)}
    count = number(fields.get("count"))
    if count is None:
        return None
    stats = {
        key: number(fields.get(key)) for key in ("first", "curr", "min", "max", "avg", "std", "p5", "median", "p95")
    }
    stats["count"] = int(count)
    # Recognised by the printed form, not by a missing "min=": a line cut off after "curr="
    # must not pass for one whose values were all equal.
    all_same = ALL_SAME_MARK in message or (stats["count"] == 1 and stats["min"] is None)
    if all_same and stats["curr"] is not None:
        # "count=1 curr=X" or "count=N curr=X(all same)": all N values were X.
        same = stats["curr"]
        for key in ("first", "min", "max", "avg", "p5", "median", "p95"):
            if stats[key] is None:
                stats[key] = same
        stats["std"] = 0.0
    return stats


def _complete_stat(stats, key):
    """`stats[key]` when the stats line got as far as its std (so `key` is whole), else None."""
    if stats is None or stats["std"] is None:
        return None
    return stats[key]


def _parse_timings_summary(body):
    """The "Inference timings in us: ..." fields, in microseconds, keyed init/first/..."""
    timings = {TIMINGS_KEYS[match["key"]]: number(match["value"]) for match in TIMINGS_FIELD.finditer(body)}
    bare = TIMINGS_BARE_AVERAGE.match(body)
    if bare and "avg" not in timings:
        timings["avg"] = number(bare["value"])
    return timings


def _shorten(message):
    message = " ".join(message.split())
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[: MAX_MESSAGE_CHARS - 3] + "..."
    return message


def _classify(line):
    """Whether a line (not one of the tool's data lines) is an "error", a "warning" or neither.

    An explicit severity decides; a bare line (older builds) is judged by its wording.
    """
    message = line.message.strip()
    if not message:
        return None
    if line.severity == "ERROR":
        return "error"
    if line.severity == "WARNING":
        return "warning"
    if line.severity is None and ERROR_WORDING.search(message):
        return "warning" if HARMLESS_FAILURE.search(message) else "error"
    if WARNING_WORDING.search(message):
        return "warning"
    return None


def _scan(lines):
    """One pass over the log lines, collecting what each recognised line says."""
    found = {
        "blocks": [],  # one list of stats per "Running benchmark" loop, in order
        "loose_stats": [],  # stats lines seen before any "Running benchmark" line
        "timings": {},  # the last "Inference timings in us" line
        "session_init_ms": None,
        "memory_delta": None,
        "memory_peak": None,
        "memory_apk": None,
        "litert": {},  # LiteRT's summary block: milliseconds keyed init/avg/..., runs
        "delegation": [],  # ("replacing", match) / ("complete"|"partial"|"unused"|"qnn"|"restored", ..)
        "errors": [],
        "warnings": [],
        "benchmarking_failed": False,
        "recognised": False,  # any line of the tool at all (tells garbage from truncation)
    }
    for line in lines:
        message = line.message.strip()
        if not message or _read_measurement(message, found):
            continue
        for kind, pattern in (
            ("replacing", REPLACING_NODES),
            ("complete", DELEGATE_COMPLETE),
            ("partial", DELEGATE_PARTIAL),
            ("unused", DELEGATE_UNUSED),
            ("qnn", QNN_DELEGATION),
            ("restored", DELEGATION_RESTORED),
        ):
            match = pattern.search(message)
            if match:
                found["delegation"].append((kind, match))
                found["recognised"] = True
                break

        if BENCHMARKING_FAILED.match(message):
            found["benchmarking_failed"] = True
        if message.startswith(("STARTING!", "Loaded model")):
            found["recognised"] = True
        kind = _classify(line)
        if kind is not None:
            found[kind + "s"].append(_shorten(message))
    return found


def _read_measurement(message, found):
    """Reads a line of timings or memory into `found`; whether it was one (no other reading then)."""
    if RUNNING_BENCHMARK.match(message):
        found["blocks"].append([])
        found["recognised"] = True
        return True
    if STATS_LINE.match(message):
        stats = _parse_stats(message)
        if stats is not None:
            (found["blocks"][-1] if found["blocks"] else found["loose_stats"]).append(stats)
            found["recognised"] = True
            return True
    summary = TIMINGS_SUMMARY.search(message)
    if summary:
        found["timings"] = _parse_timings_summary(summary["body"])
        apk_memory = APK_OVERALL_MEMORY.search(message)
        if apk_memory:
            found["memory_apk"] = number(apk_memory["mb"])
        found["recognised"] = True
        return True
    session = INITIALIZED_SESSION.match(message)
    if session:
        found["session_init_ms"] = number(session["ms"])
        found["recognised"] = True
        return True
    litert = LITERT_SUMMARY_LINE.match(message)
    if litert:
        key = LITERT_SUMMARY_KEYS[litert["key"]]
        found["litert"][key] = number(litert["ms"])
        if litert["runs"] is not None:
            found["litert"][key + "_runs"] = int(litert["runs"])
        found["recognised"] = True
        return True
    if LITERT_NO_RUNS.match(message):
        found["litert"]["avg_runs"] = 0
        found["recognised"] = True
        return True
    delta = MEMORY_DELTA.search(message)
    if delta:
        found["memory_delta"] = number(delta["overall"])
        return True
    delta = LITERT_OVERALL_MEMORY.match(message)
    if delta:
        found["memory_delta"] = number(delta["mb"])
        return True
    peak = PEAK_MEMORY.search(message) or LITERT_PEAK_MEMORY.match(message)
    if peak:
        found["memory_peak"] = number(peak["mb"])
        return True
    return False


def _inference_and_warmup_stats(found):
    """(inference stats, warm-up stats, whether the runs look cut short) from the scan.

    benchmark_model runs two loops, warm-up then inference, each opened by a "Running
    benchmark" line and closed by its stats line, so the blocks come in pairs and the
    inference stats are those of the second block of the last complete pair. A single block
    is the warm-up of a text cut short: its stats must not pass for the inference runs. Texts
    without those lines (grepped logs) fall back to the last stats line as the inference one.
    """
    blocks = found["blocks"]
    if blocks:
        pairs = len(blocks) // 2
        cut_short = len(blocks) % 2 == 1
        if pairs == 0:
            warmup = blocks[0][0] if blocks[0] else None
            return None, warmup, True
        warmup_block, inference_block = blocks[2 * pairs - 2], blocks[2 * pairs - 1]
        inference = inference_block[0] if inference_block else None
        warmup = warmup_block[0] if warmup_block else None
        return inference, warmup, cut_short or inference is None
    loose = found["loose_stats"]
    inference = loose[-1] if loose else None
    warmup = loose[-2] if len(loose) >= 2 else None
    return inference, warmup, False


def _delegation_columns(events):
    """delegated_nodes, total_nodes, partitions from the delegation lines, in their order.

    With several delegates applied in turn, the last one's partitioning is what runs; lines
    for subgraphs other than the first are ignored (the benchmark's numbers are the whole
    model's). benchmark_model's own summary gives the delegate partitions proper ("w/ N
    delegate kernels"); without it the interpreter's "yielding P partitions" is used, which
    also counts the CPU stretches between them. A restore after the last "Replacing" line
    means no node runs on the delegate any more.

    benchmark_tflite_model.cc prints each delegate's summary right after applying it, so a
    summary speaks for the "Replacing" line before it unless an earlier summary has already
    claimed that line. "Though NNAPI delegate is explicitly applied, the model graph will
    not be executed" after "Explicitly applied GPU delegate ... completely executed" (two
    delegates, one after the other) says only that NNAPI found nothing left: the GPU keeps
    the graph. It resets the coverage only when the nodes were its own, or nobody's.
    """
    delegated = total = partitions = None
    owner, claimed = None, False  # who the last "Replacing" line was for, and whether a summary took it
    for kind, match in events:
        if kind == "replacing":
            if match["subgraph"] not in (None, "0"):
                continue
            delegated, partitions = int(match["taken"]), int(match["partitions"])
            total = int(match["total"]) if match["total"] else None
            owner, claimed = match["delegate"], False
        elif kind == "qnn":
            delegated, total = int(match["taken"]), int(match["total"])
            partitions = int(match["partitions"])
            owner, claimed = match["delegate"], True
        elif kind == "complete":
            partitions = 1
            if delegated is None and total is not None:
                delegated = total
            owner, claimed = owner or match["delegate"], True
        elif kind == "partial":
            partitions = int(match["kernels"])
            owner, claimed = owner or match["delegate"], True
        elif kind == "unused":
            someone_elses = delegated and (claimed or _other_delegate(owner, match["delegate"]))
            if not someone_elses:
                delegated, partitions = 0, 0
        elif kind == "restored":
            delegated, partitions = 0, 0
    return delegated, total, partitions


def _other_delegate(kernel, provider):
    """Whether a "Replacing ... with delegate (<kernel>)" line is clearly of another delegate
    than the one named "<provider>" in benchmark_model's summary (e.g. TfLiteXNNPackDelegate,
    the default CPU delegate, before "Though NNAPI delegate is explicitly applied ...")."""
    kinds = [
        next((name for name, words in DELEGATE_KINDS if re.search(words, text)), None)
        for text in (kernel or "", provider)
    ]
    return None not in kinds and kinds[0] != kinds[1]


def _parse(text):
    """`parse_benchmark_output` without its guard against unexpected exceptions."""
    result = dict.fromkeys(RESULT_KEYS)
    result["status"] = "failed"
    text = _as_text(text)
    if not text.strip():
        result["reason"] = "empty benchmark output"
        return result

    found = _scan(log_lines(text))
    inference, warmup, cut_short = _inference_and_warmup_stats(found)
    timings = found["timings"]

    # The summary line and the stats lines print the same averages from the same Stat objects
    # (identical text in a whole output). A stats line whose std was printed is known to be
    # complete, as std follows avg and first; the summary line is often the last line, the one
    # a cut-off text ends inside ("Inference (avg): 72" for 7204.6). So complete stats lines
    # come first and the summary fills in what they lack.
    avg_us = _complete_stat(inference, "avg")
    if avg_us is None:
        avg_us = timings.get("avg")
    first_us = _complete_stat(warmup, "first")
    if first_us is None:
        first_us = timings.get("first")
    warmup_avg_us = _complete_stat(warmup, "avg")
    if warmup_avg_us is None:
        warmup_avg_us = timings.get("warmup_avg")

    init_ms = _ms(timings.get("init"))
    if init_ms is None:
        init_ms = found["session_init_ms"]
    result.update(init_ms=init_ms, first_ms=_ms(first_us), warmup_avg_ms=_ms(warmup_avg_us), avg_ms=_ms(avg_us))
    if inference is not None:
        result.update(
            runs=inference["count"],
            std_ms=_ms(inference["std"]),
            min_ms=_ms(inference["min"]),
            median_ms=_ms(inference["median"]),
            p5_ms=_ms(inference["p5"]),
            p95_ms=_ms(inference["p95"]),
            max_ms=_ms(inference["max"]),
        )
    # LiteRT's summary block fills what the microsecond lines did not give: it rounds to
    # 0.01 ms, and in some builds it is the only result printed.
    litert = found["litert"]
    for column, key in (
        ("init_ms", "init"),
        ("first_ms", "first"),
        ("warmup_avg_ms", "warmup_avg"),
        ("avg_ms", "avg"),
        ("std_ms", "std"),
        ("min_ms", "min"),
        ("median_ms", "median"),
        ("p5_ms", "p5"),
        ("p95_ms", "p95"),
        ("max_ms", "max"),
        ("runs", "avg_runs"),
    ):
        if result[column] is None and litert.get(key) is not None:
            result[column] = litert[key]
    for memory in (found["memory_peak"], found["memory_delta"], found["memory_apk"]):
        if memory is not None:
            result["memory_mb"] = memory
            break
    (result["delegated_nodes"], result["total_nodes"], result["partitions"]) = _delegation_columns(found["delegation"])

    ok = result["avg_ms"] is not None and not found["benchmarking_failed"]
    result["status"] = "ok" if ok else "failed"

    messages = list(dict.fromkeys(found["errors"] + found["warnings"]))
    if not ok and not found["errors"]:
        messages.insert(0, _why_no_result(found, inference, cut_short))
    result["reason"] = "; ".join(messages) or None
    return result


def _why_no_result(found, inference, cut_short):
    """Why a text with no error line holds no inference average."""
    if inference is not None and inference["count"] == 0:
        return "no inference runs were measured (count=0)"
    if found["litert"].get("avg_runs") == 0:
        return 'no inference runs were measured (LiteRT: "No inference runs were performed.")'
    if cut_short or found["blocks"]:
        return "the output ends before the inference results (truncated?)"
    if found["recognised"]:
        return "the output has no inference timings (truncated before the benchmark runs?)"
    return "no benchmark_model output found in the text"
