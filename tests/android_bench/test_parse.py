"""android_bench.parse against benchmark_model / benchmark APK output in every variant.

The texts are modelled on what the tool prints (tensorflow/lite/tools/benchmark and
LiteRT's tflite/tools/benchmark; see the comments in android_bench/parse.py), with the
numbers of a SwiftFormer-XS run. Times are asserted in milliseconds (the tool prints us).
Section 11 reads published outputs (tests/fixtures/benchmark_model/, each test cites its source).
Section 12 checks that pathological texts are read in linear time (issue 25), by this parser
and by the operator tables' (android_bench.op_profile, whose own tests are test_op_profile.py).
"""
# ruff: noqa: E501  (the texts are benchmark_model's output, line for line as the tool prints it)

import json
import os
import subprocess
import sys

import pytest

from android_bench import parse
from android_bench.parse import RESULT_KEYS, parse_benchmark_output
from conftest import FIXTURES, ROOT


def approx(value):
    return pytest.approx(value, rel=1e-9, abs=1e-12)


def assert_fields(result, **expected):
    """Every expected field equals (floats: to rounding) what the parser returned."""
    for key, value in expected.items():
        if isinstance(value, float):
            assert result[key] == approx(value), key
        else:
            assert result[key] == value, key


# ----------------------------------------------------------------------------------------
# 1. Modern output: StatWithPercentiles lines (LiteRT / current TensorFlow)
# ----------------------------------------------------------------------------------------

MODERN_WITH_PERCENTILES = """\
INFO: STARTING!
INFO: Log parameter values verbosely: [0]
INFO: Min num runs: [100]
INFO: Num threads: [4]
INFO: Graph: [/data/local/tmp/swiftformer_xs_fp32.tflite]
INFO: Signature to run: []
INFO: #threads used for CPU inference: [4]
INFO: Use xnnpack: [1]
INFO: Report the peak memory footprint: [1]
INFO: Loaded model /data/local/tmp/swiftformer_xs_fp32.tflite
INFO: Initialized TensorFlow Lite runtime.
INFO: Created TensorFlow Lite XNNPACK delegate for CPU.
INFO: XNNPACK delegate created.
INFO: Replacing 137 out of 137 node(s) with delegate (TfLiteXNNPackDelegate) node, yielding 1 partitions for the whole graph.
INFO: Explicitly applied XNNPACK delegate, and the model graph will be completely executed by the delegate.
INFO: The input model file size (MB): 12.7734
INFO: Initialized session in 11.852ms.
INFO: Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
INFO: count=68 first=8762 curr=7290 min=7105 max=8762 avg=7401.62 std=231 p5=7150 median=7380 p95=7720

INFO: Running benchmark for at least 100 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
INFO: count=139 first=7250 curr=7110 min=7020 max=7990 avg=7204.6 std=150 p5=7050 median=7180 p95=7500

INFO: Inference timings in us: Init: 11852, First inference: 8762, Warmup (avg): 7401.62, Inference (avg): 7204.6
INFO: Note: as the benchmark tool itself affects memory footprint, the following is only APPROXIMATE to the actual memory footprint of the model at runtime. Take the information at your discretion.
INFO: Memory footprint delta from the start of the tool (MB): init=21.9492 overall=34.5234
INFO: Overall peak memory footprint (MB) via periodic monitoring: 41.8672
INFO: Memory status at the end of exeution:
INFO: - VmRSS              : 39 MB
INFO: + RssAnnon           : 27 MB
INFO: + RssFile + RssShmem : 12 MB
"""


def test_modern_output_with_percentiles():
    result = parse_benchmark_output(MODERN_WITH_PERCENTILES)
    assert set(result) == set(RESULT_KEYS)  # one shape for every text
    assert_fields(
        result,
        status="ok",
        reason=None,
        runs=139,
        init_ms=11.852,
        first_ms=8.762,
        warmup_avg_ms=7.40162,
        avg_ms=7.2046,
        std_ms=0.150,
        min_ms=7.020,
        median_ms=7.180,
        p5_ms=7.050,
        p95_ms=7.500,
        max_ms=7.990,
        memory_mb=41.8672,  # the peak via periodic monitoring, not the delta (34.5234)
        delegated_nodes=137,
        total_nodes=137,
        partitions=1,
    )


def test_runs_and_spread_come_from_the_inference_runs_not_the_warmup():
    result = parse_benchmark_output(MODERN_WITH_PERCENTILES)
    assert result["runs"] != 68 and result["std_ms"] != approx(0.231)
    assert result["p95_ms"] != approx(7.720)


# ----------------------------------------------------------------------------------------
# 2. Without percentiles (TensorFlow 2.x builds): Stat lines end at std=
# ----------------------------------------------------------------------------------------

WITHOUT_PERCENTILES = """\
INFO: STARTING!
INFO: Log parameter values verbosely: [0]
INFO: Graph: [swiftformer_xs_int8.tflite]
INFO: Signature to run: []
INFO: Loaded model swiftformer_xs_int8.tflite
INFO: Created TensorFlow Lite XNNPACK delegate for CPU.
VERBOSE: Replacing 120 out of 137 node(s) with delegate (TfLiteXNNPackDelegate) node, yielding 5 partitions for the whole graph.
INFO: Explicitly applied XNNPACK delegate, and the model graph will be partially executed by the delegate w/ 3 delegate kernels.
INFO: The input model file size (MB): 4.56118
INFO: Initialized session in 52.687ms.
INFO: Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
INFO: count=35 first=19105 curr=13909 min=13585 max=19105 avg=14452.5 std=1240

INFO: Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
INFO: count=70 first=14941 curr=14066 min=13728 max=16145 avg=14290.9 std=452

INFO: Inference timings in us: Init: 52687, First inference: 19105, Warmup (avg): 14452.5, Inference (avg): 14290.9
INFO: Note: as the benchmark tool itself affects memory footprint, the following is only APPROXIMATE to the actual memory footprint of the model at runtime. Take the information at your discretion.
INFO: Memory footprint delta from the start of the tool (MB): init=21.9492 overall=34.5234
"""


def test_output_without_percentiles():
    result = parse_benchmark_output(WITHOUT_PERCENTILES)
    assert_fields(
        result,
        status="ok",
        reason=None,
        runs=70,
        init_ms=52.687,
        first_ms=19.105,
        warmup_avg_ms=14.4525,
        avg_ms=14.2909,
        std_ms=0.452,
        min_ms=13.728,
        max_ms=16.145,
        median_ms=None,
        p5_ms=None,
        p95_ms=None,
        memory_mb=34.5234,  # no periodic monitoring: the overall delta
        # "w/ 3 delegate kernels" are the delegate partitions; "yielding 5" counts the
        # CPU stretches too.
        delegated_nodes=120,
        total_nodes=137,
        partitions=3,
    )


# ----------------------------------------------------------------------------------------
# 3. All values equal: "count=1 curr=X" and "count=N curr=X(all same)"
# ----------------------------------------------------------------------------------------

ONE_RUN_EACH = """\
INFO: STARTING!
INFO: Log parameter values verbosely: [0]
INFO: Min num runs: [1]
INFO: Num threads: [4]
INFO: Min warmup runs: [1]
INFO: Min warmup runs duration (seconds): [0]
INFO: Min runs duration (seconds): [0]
INFO: Graph: [/data/local/tmp/swiftformer_l3_fp32.tflite]
INFO: Use gpu: [1]
INFO: Loaded model /data/local/tmp/swiftformer_l3_fp32.tflite
INFO: Created TensorFlow Lite delegate for GPU.
INFO: GPU delegate created.
INFO: Replacing 291 out of 291 node(s) with delegate (TfLiteGpuDelegateV2) node, yielding 1 partitions for the whole graph.
INFO: Initialized OpenCL-based API.
INFO: Created 1 GPU delegate kernels.
INFO: Explicitly applied GPU delegate, and the model graph will be completely executed by the delegate.
INFO: The input model file size (MB): 115.021
INFO: Initialized session in 1592.23ms.
INFO: Running benchmark for at least 1 iterations and at least 0 seconds but terminate if exceeding 150 seconds.
INFO: count=1 curr=1.68659e+06

INFO: Running benchmark for at least 1 iterations and at least 0 seconds but terminate if exceeding 150 seconds.
INFO: count=1 curr=602943

INFO: Inference timings in us: Init: 1592232, First inference: 1.68659e+06, Warmup (avg): 1.68659e+06, Inference (avg): 602943
"""


def test_single_runs_print_only_curr():
    result = parse_benchmark_output(ONE_RUN_EACH)
    assert_fields(
        result,
        status="ok",
        reason=None,
        runs=1,
        init_ms=1592.232,
        first_ms=1686.59,
        warmup_avg_ms=1686.59,
        avg_ms=602.943,
        # one value: it is the minimum, median, maximum, every percentile; no spread
        std_ms=0.0,
        min_ms=602.943,
        median_ms=602.943,
        p5_ms=602.943,
        p95_ms=602.943,
        max_ms=602.943,
        delegated_nodes=291,
        total_nodes=291,
        partitions=1,
    )


ALL_SAME_WITH_PERCENTILES = """\
INFO: Initialized session in 3.337ms.
INFO: Running benchmark for at least 2 iterations and at least -1 seconds but terminate if exceeding 150 seconds.
INFO: count=2 first=9120 curr=9000 min=9000 max=9120 avg=9060 std=60 p5=9000 median=9120 p95=9120

INFO: Running benchmark for at least 5 iterations and at least -1 seconds but terminate if exceeding 150 seconds.
INFO: count=5 curr=9000(all same) p5=9000 median=9000 p95=9000

INFO: Inference timings in us: Init: 3337, First inference: 9120, Warmup (avg): 9060, Inference (avg): 9000
"""


def test_all_same_marker_glued_to_the_value():
    result = parse_benchmark_output(ALL_SAME_WITH_PERCENTILES)
    assert_fields(
        result,
        status="ok",
        runs=5,
        init_ms=3.337,
        first_ms=9.12,
        warmup_avg_ms=9.06,
        avg_ms=9.0,
        std_ms=0.0,
        min_ms=9.0,
        max_ms=9.0,
        median_ms=9.0,
        p5_ms=9.0,
        p95_ms=9.0,
    )


def test_all_same_without_the_summary_line_still_gives_the_average():
    # `grep count=` of a run: no "Running benchmark" and no "Inference timings" lines; the
    # last stats line is the inference one, the one before it the warm-up.
    text = "count=1 curr=15230\ncount=3 curr=15000(all same)\n"
    result = parse_benchmark_output(text)
    assert_fields(
        result,
        status="ok",
        runs=3,
        avg_ms=15.0,
        std_ms=0.0,
        min_ms=15.0,
        max_ms=15.0,
        first_ms=15.23,
        warmup_avg_ms=15.23,
    )


# ----------------------------------------------------------------------------------------
# 4. Older builds: "curr=.. count=.." field order, no prefixes, "Average inference timings"
# ----------------------------------------------------------------------------------------

OLDER_FIELD_ORDER = """\
STARTING!
Num runs: [50]
Inter-run delay (seconds): [-1]
Num threads: [1]
Benchmark name: []
Output prefix: []
Warmup runs: [1]
Graph: [swiftformer_xs_int8.tflite]
Input layers: []
Input shapes: []
Use nnapi : [0]
Loaded model swiftformer_xs_int8.tflite
resolved reporter
Initialized session in 4.452ms
Running benchmark for 1 iterations
curr=146161 count=1

Running benchmark for 50 iterations
curr=137254 count=50 min=137079 max=143416 avg=137722 std=896

Average inference timings in us: Warmup: 146161, Init: 4452, no stats: 137722
"""


def test_older_curr_count_field_order():
    result = parse_benchmark_output(OLDER_FIELD_ORDER)
    assert_fields(
        result,
        status="ok",
        reason=None,
        runs=50,
        init_ms=4.452,
        warmup_avg_ms=146.161,
        avg_ms=137.722,
        first_ms=146.161,  # no "First inference": the warm-up's only run
        std_ms=0.896,
        min_ms=137.079,
        max_ms=143.416,
        median_ms=None,
        memory_mb=None,
    )


def test_older_all_same_in_curr_count_order():
    text = (
        "Running benchmark for 1 iterations\ncurr=20410 count=1\n\n"
        "Running benchmark for 5 iterations\ncurr=19000 count=5(all same)\n"
    )
    result = parse_benchmark_output(text)
    assert_fields(result, status="ok", runs=5, avg_ms=19.0, std_ms=0.0, min_ms=19.0, first_ms=20.41, init_ms=None)


# ----------------------------------------------------------------------------------------
# 5. Severity and logcat prefixes
# ----------------------------------------------------------------------------------------

APK_LOGCAT = """\
11-24 10:00:00.101  4321  4321 I tflite_BenchmarkModelActivity: Running TensorFlow Lite benchmark with args: --graph=/data/local/tmp/swiftformer_xs_int8.tflite --num_threads=4 --use_xnnpack=true
11-24 10:00:00.118  4321  4321 I tflite  : Log parameter values verbosely: [0]
11-24 10:00:00.118  4321  4321 I tflite  : Num threads: [4]
11-24 10:00:00.118  4321  4321 I tflite  : Graph: [/data/local/tmp/swiftformer_xs_int8.tflite]
11-24 10:00:00.119  4321  4321 I tflite  : Use xnnpack: [1]
11-24 10:00:00.131  4321  4321 I tflite  : Loaded model /data/local/tmp/swiftformer_xs_int8.tflite
11-24 10:00:00.131  4321  4321 I tflite  : Initialized TensorFlow Lite runtime.
11-24 10:00:00.132  4321  4321 I tflite  : Created TensorFlow Lite XNNPACK delegate for CPU.
11-24 10:00:00.140  4321  4321 I tflite  : Replacing 211 out of 226 node(s) with delegate (TfLiteXNNPackDelegate) node, yielding 9 partitions for the whole graph.
11-24 10:00:00.152  4321  4321 I tflite  : Explicitly applied XNNPACK delegate, and the model graph will be partially executed by the delegate w/ 4 delegate kernels.
11-24 10:00:00.153  4321  4321 I tflite  : The input model file size (MB): 3.91207
11-24 10:00:00.153  4321  4321 I tflite  : Initialized session in 21.337ms.
11-24 10:00:00.153  4321  4321 I tflite  : Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
11-24 10:00:00.312  1000  1180 E ActivityManager: Failed to schedule restart of com.example.other
11-24 10:00:00.655  4321  4321 I tflite  : count=104 first=5512 curr=4791 min=4702 max=5512 avg=4826.31 std=97
11-24 10:00:00.655  4321  4321 I tflite  :
11-24 10:00:00.655  4321  4321 I tflite  : Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
11-24 10:00:01.656  4321  4321 I tflite  : count=209 first=4788 curr=4801 min=4690 max=5230 avg=4785.45 std=61
11-24 10:00:01.656  4321  4321 I tflite  :
11-24 10:00:01.657  4321  4321 I tflite  : Inference timings in us: Init: 21337, First inference: 5512, Warmup (avg): 4826.31, Inference (avg): 4785.45
11-24 10:00:01.657  4321  4321 I tflite  : Note: as the benchmark tool itself affects memory footprint, the following is only APPROXIMATE to the actual memory footprint of the model at runtime. Take the information at your discretion.
11-24 10:00:01.657  4321  4321 I tflite  : Memory footprint delta from the start of the tool (MB): init=9.25 overall=17.5
"""


def test_apk_logcat_threadtime_lines():
    result = parse_benchmark_output(APK_LOGCAT)
    assert_fields(
        result,
        status="ok",
        reason=None,  # the other app's "E ActivityManager" line is not this benchmark's
        runs=209,
        init_ms=21.337,
        first_ms=5.512,
        warmup_avg_ms=4.82631,
        avg_ms=4.78545,
        std_ms=0.061,
        min_ms=4.69,
        max_ms=5.23,
        memory_mb=17.5,
        delegated_nodes=211,
        total_nodes=226,
        partitions=4,
    )


@pytest.mark.parametrize(
    "prefix",
    [
        "11-24 10:00:01.657  4321  4321 I tflite  : ",  # adb logcat (threadtime)
        "2024-11-24 10:00:01.657  4321  4321 I tflite  : ",  # adb logcat -v year
        "I/tflite  ( 4321): ",  # adb logcat -v brief
        "11-24 10:00:01.657 I/tflite  ( 4321): ",  # adb logcat -v time
        "2024-11-24 10:00:01.657  4321-4321  tflite                  org.tensorflow.lite.benchmark        I  ",  # Android Studio
        "INFO: ",  # the binary's stdout
        "2018-09-10 12:36:26.109144: I tensorflow/lite/tools/benchmark/benchmark_model.cc:91] ",  # glog
        "I0000 00:00:1773133291.105033   23090 benchmark_model.cc:91] ",  # absl (LiteRT)
        "",  # older builds: no prefix
    ],
)
def test_every_line_prefix(prefix):
    body = [
        "Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.",
        "count=104 first=5512 curr=4791 min=4702 max=5512 avg=4826.31 std=97",
        "Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds.",
        "count=209 first=4788 curr=4801 min=4690 max=5230 avg=4785.45 std=61 p5=4701 median=4779 p95=4880",
        "Inference timings in us: Init: 21337, First inference: 5512, Warmup (avg): 4826.31, Inference (avg): 4785.45",
    ]
    result = parse_benchmark_output("\n".join(prefix + line for line in body))
    assert_fields(
        result,
        status="ok",
        reason=None,
        runs=209,
        avg_ms=4.78545,
        std_ms=0.061,
        median_ms=4.779,
        p95_ms=4.88,
        init_ms=21.337,
    )


def test_severity_prefixes_put_warnings_and_errors_in_the_reason():
    text = """\
INFO: STARTING!
WARN: WARNING: unrecognized commandline flag: --use_hexagon=true
INFO: Loaded model swiftformer_xs_fp16.tflite
INFO: Initialized TensorFlow Lite runtime.
WARNING: Attempting to use a delegate that only supports static-sized tensors with a graph that has dynamic-sized tensors (tensor#3 is a dynamic-sized tensor).
INFO: Initialized session in 6.1ms.
INFO: Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
INFO: count=50 first=10450 curr=9980 min=9900 max=10450 avg=10010.2 std=88
INFO: Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
INFO: count=100 first=9990 curr=10010 min=9890 max=10300 avg=10001.7 std=61
INFO: Inference timings in us: Init: 6100, First inference: 10450, Warmup (avg): 10010.2, Inference (avg): 10001.7
"""
    result = parse_benchmark_output(text)
    assert_fields(result, status="ok", runs=100, avg_ms=10.0017, init_ms=6.1)
    assert result["reason"] == (
        "WARNING: unrecognized commandline flag: --use_hexagon=true; "
        "Attempting to use a delegate that only supports static-sized tensors with a graph "
        "that has dynamic-sized tensors (tensor#3 is a dynamic-sized tensor)."
    )


def test_older_apk_listener_line_logged_at_error_level_is_a_result():
    # tensorflow/lite/tools/benchmark/android/jni/benchmark_model_jni.cc: the result was
    # logged with ANDROID_LOG_ERROR, the memory usage glued to the average.
    text = (
        "03-02 14:22:09.877  7788  7811 I tflite  : Initialized session in 4.108ms.\n"
        "03-02 14:22:12.204  7788  7811 E tflite  : Average inference timings in us: "
        "Warmup: 91471, Init: 4108, Inference: 80660.1Overall max resident set size/physical "
        "footprint = 52.1 MB, total malloc-ed size = 18.4 MB, in-use allocated/mmapped size = "
        "14.2 MB\n"
    )
    result = parse_benchmark_output(text)
    assert_fields(
        result, status="ok", reason=None, avg_ms=80.6601, warmup_avg_ms=91.471, init_ms=4.108, memory_mb=52.1, runs=None
    )


# ----------------------------------------------------------------------------------------
# 6. Operator profiles (--enable_op_profiling=true) beside the timings (tables: test_op_profile.py)
# ----------------------------------------------------------------------------------------

# The binary's stdout: "INFO: " only on the heading, the table itself as
# tsl::StatsCalculator prints it (each field "\t" + right-aligned). The initialisation
# profile is in the space-aligned form that copying from a terminal or the docs gives.
OP_PROFILE_RUN = """\
INFO: STARTING!
INFO: Enable op profiling: [1]
INFO: Loaded model swiftformer_xs_fp32.tflite
INFO: Created TensorFlow Lite XNNPACK delegate for CPU.
INFO: Initialized session in 32.163ms.
INFO: Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
INFO: count=32 first=19834 curr=15648 min=14936 max=21608 avg=15997.4 std=1663

INFO: Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds.
INFO: count=64 first=16067 curr=15102 min=14661 max=17579 avg=15517.6 std=551

INFO: Inference timings in us: Init: 32163, First inference: 19834, Warmup (avg): 15997.4, Inference (avg): 15517.6
INFO: Note: as the benchmark tool itself affects memory footprint, the following is only APPROXIMATE to the actual memory footprint of the model at runtime. Take the information at your discretion.
INFO: Memory footprint delta from the start of the tool (MB): init=22.0273 overall=34.8281
INFO: Profiling Info for Benchmark Initialization:
============================== Run Order ==============================
                                     [node type]          [first]        [avg ms]            [%]          [cdf%]          [mem KB]        [times called]  [Name]
                         ModifyGraphWithDelegate            6.348           6.348        55.640%         55.640%          7148.000                1       ModifyGraphWithDelegate/0
                                 AllocateTensors            5.061           5.061        44.360%        100.000%         10292.000                1       AllocateTensors/0

Number of nodes executed: 2
============================== Summary by node type ==============================
                                     [Node type]          [count]         [avg ms]          [avg %]         [cdf %]       [mem KB]        [times called]
                         ModifyGraphWithDelegate                1            6.348          55.640%         55.640%       7148.000                1
                                 AllocateTensors                1            5.061          44.360%        100.000%      10292.000                1

Timings (microseconds): count=1 curr=11409
Memory (bytes): count=0
2 nodes observed



INFO: Operator-wise Profiling Info for Regular Benchmark Runs:
============================== Run Order ==============================
\t                             [node type]\t  [first]\t [avg ms]\t     [%]\t  [cdf%]\t  [mem KB]\t[times called]\t[Name]
\t        Convolution (NHWC, F32) IGEMM\t    0.398\t    0.407\t  2.658%\t  2.658%\t     0.000\t        1\tDelegate/Convolution (NHWC, F32) IGEMM:0
\t       Convolution (NHWC, F32) DWConv\t    0.428\t    0.051\t  4.317%\t  6.975%\t     0.000\t       13\tDelegate/Convolution (NHWC, F32) DWConv:1
\t                               GELU\t    0.031\t    0.030\t  0.196%\t  7.171%\t     0.000\t        1\t[swift_former/stage_0/mlp/gelu]:12

============================== Top by Computation Time ==============================
\t                             [node type]\t  [first]\t [avg ms]\t     [%]\t  [cdf%]\t  [mem KB]\t[times called]\t[Name]
\t       Convolution (NHWC, F32) DWConv\t    0.428\t    0.051\t  4.317%\t  4.317%\t     0.000\t       13\tDelegate/Convolution (NHWC, F32) DWConv:1

Number of nodes executed: 171
============================== Summary by node type ==============================
\t                             [Node type]\t  [count]\t  [avg ms]\t    [avg %]\t    [cdf %]\t  [mem KB]\t[times called]
\t         Convolution (NHWC, F32) GEMM\t       62\t     5.236\t    34.361%\t    34.361%\t     0.000\t      101
\t       Convolution (NHWC, F32) DWConv\t       51\t     4.460\t    29.269%\t    63.630%\t     0.000\t       80
\t                          SOFTMAX\t        1\t     0.063\t     0.413%\t    64.043%\t     0.000\t        1

Timings (microseconds): count=64 first=15808 curr=14892 min=14470 max=17363 avg=15309.2 std=542
Memory (bytes): count=0
171 nodes observed

"""


def test_op_profile_tables_do_not_disturb_the_timings():
    result = parse_benchmark_output(OP_PROFILE_RUN)
    # "Timings (microseconds): count=64 ... std=542" closes the profile; the benchmark's
    # numbers are still those of its own inference stats line.
    assert_fields(
        result,
        status="ok",
        reason=None,
        runs=64,
        avg_ms=15.5176,
        std_ms=0.551,
        min_ms=14.661,
        max_ms=17.579,
        init_ms=32.163,
        memory_mb=34.8281,
    )
    assert set(result) == set(RESULT_KEYS)  # the tables are op_profile.parse_op_profile's


# ----------------------------------------------------------------------------------------
# 7. Delegate coverage and delegate failures
# ----------------------------------------------------------------------------------------

GPU_DELEGATE_FAILURE = """\
INFO: STARTING!
INFO: Log parameter values verbosely: [0]
INFO: Graph: [/data/local/tmp/swiftformer_xs_fp32.tflite]
INFO: Use gpu: [1]
INFO: Loaded model /data/local/tmp/swiftformer_xs_fp32.tflite
INFO: Initialized TensorFlow Lite runtime.
INFO: Created TensorFlow Lite delegate for GPU.
INFO: GPU delegate created.
INFO: Replacing 137 out of 137 node(s) with delegate (TfLiteGpuDelegateV2) node, yielding 1 partitions for the whole graph.
INFO: Initialized OpenCL-based API.
ERROR: TfLiteGpuDelegate Init: BATCH_MATMUL: Not supported batched mat mul case
INFO: Created 0 GPU delegate kernels.
ERROR: TfLiteGpuDelegate Prepare: delegate is not initialized
ERROR: Node number 137 (TfLiteGpuDelegateV2) failed to prepare.
ERROR: Restored original execution plan after delegate application failure.
ERROR: Failed to apply GPU delegate.
ERROR: Benchmarking failed.
"""


def test_error_delegate_failure_fails_and_names_the_delegate():
    result = parse_benchmark_output(GPU_DELEGATE_FAILURE)
    assert result["status"] == "failed"
    assert "Failed to apply GPU delegate." in result["reason"]
    assert "TfLiteGpuDelegate Init: BATCH_MATMUL: Not supported batched mat mul case" in result["reason"]
    assert result["reason"].endswith("Failed to apply GPU delegate.; Benchmarking failed.")
    # the delegation was undone: no node runs on the GPU
    assert_fields(result, delegated_nodes=0, total_nodes=137, partitions=0, avg_ms=None, runs=None)


def test_unprefixed_delegate_failure_of_older_builds():
    # tensorflow/tensorflow#56166: the tool's own lines had no severity prefix then.
    text = """\
STARTING!
Log parameter values verbosely: [0]
Graph: [pruning_model.tflite]
Use xnnpack: [1]
Loaded model pruning_model.tflite
INFO: Initialized TensorFlow Lite runtime.
INFO: Created TensorFlow Lite XNNPACK delegate for CPU.
XNNPACK delegate created.
Failed to apply XNNPACK delegate.
Benchmarking failed.
"""
    result = parse_benchmark_output(text)
    assert result["status"] == "failed"
    assert result["reason"] == "Failed to apply XNNPACK delegate.; Benchmarking failed."


def test_nnapi_failure_in_logcat():
    text = """\
01-23 16:53:50.660 27002 27002 I tflite  : Graph: [/data/local/tmp/swiftformer_xs_int8.tflite]
01-23 16:53:50.661 27002 27002 I tflite  : Use NNAPI: [1]
01-23 16:53:50.674 27002 27002 I tflite  : NNAPI accelerators available: [qti-default,qti-dsp,qti-gpu,nnapi-reference]
01-23 16:53:50.727 27002 27002 I tflite  : Loaded model /data/local/tmp/swiftformer_xs_int8.tflite
01-23 16:53:50.728 27002 27002 I tflite  : Created TensorFlow Lite delegate for NNAPI.
01-23 16:53:50.729 27002 27002 I tflite  : NNAPI delegate created.
01-23 16:53:50.912 27002 27002 I tflite  : Replacing 5 out of 226 node(s) with delegate (TfLiteNnapiDelegate) node, yielding 7 partitions for the whole graph.
01-23 16:53:51.377 27002 27002 E tflite  : NN API returned error ANEURALNETWORKS_OP_FAILED at line 4350 while completing NNAPI compilation.
01-23 16:53:51.377 27002 27002 E tflite  : Node number 226 (TfLiteNnapiDelegate) failed to prepare.
01-23 16:53:51.378 27002 27002 E tflite  : Restored original execution plan after delegate application failure.
01-23 16:53:51.378 27002 27002 E tflite  : Failed to apply NNAPI delegate.
01-23 16:53:51.378 27002 27002 E tflite  : Benchmarking failed.
"""
    result = parse_benchmark_output(text)
    assert result["status"] == "failed"
    assert result["reason"].startswith(
        "NN API returned error ANEURALNETWORKS_OP_FAILED at line 4350 while completing NNAPI "
        "compilation.; Node number 226 (TfLiteNnapiDelegate) failed to prepare."
    )
    assert "Failed to apply NNAPI delegate." in result["reason"]
    assert_fields(result, delegated_nodes=0, total_nodes=226, partitions=0)


def test_delegate_that_takes_no_node_is_a_warning_not_a_failure():
    text = APK_LOGCAT.replace(
        "11-24 10:00:00.140  4321  4321 I tflite  : Replacing 211 out of 226 node(s) with delegate (TfLiteXNNPackDelegate) node, yielding 9 partitions for the whole graph.\n",
        "",
    ).replace(
        "Explicitly applied XNNPACK delegate, and the model graph will be partially executed by the delegate w/ 4 delegate kernels.",
        "Though NNAPI delegate is explicitly applied, the model graph will not be executed by the delegate.",
    )
    result = parse_benchmark_output(text)
    assert_fields(
        result,
        status="ok",
        avg_ms=4.78545,
        delegated_nodes=0,
        partitions=0,
        total_nodes=None,
        reason="Though NNAPI delegate is explicitly applied, the model graph will not be executed by the delegate.",
    )


@pytest.mark.parametrize(
    "line, expected",
    [
        # older interpreter wording: no total
        ("INFO: Replacing 1 node(s) with delegate (TfLiteGpuDelegateV2) node, yielding 1 partitions.", (1, None, 1)),
        # LiteRT's GPU accelerator
        (
            "I tflite : Replacing 572 out of 1789 node(s) with delegate (LITERT_CL), yielding 2 partitions",
            (572, 1789, 2),
        ),
        # Qualcomm's QNN delegate summary
        ("INFO: TfLiteQnnDelegate delegate: 357 nodes delegated out of 360 nodes with 2 partitions.", (357, 360, 2)),
        # a subgraph's line does not describe the model's main graph
        (
            (
                "VERBOSE: Replacing 120 out of 137 node(s) with delegate (TfLiteXNNPackDelegate) node, yielding 5 partitions for the whole graph.\n"
                "VERBOSE: Replacing 3 out of 3 node(s) with delegate (TfLiteXNNPackDelegate) node, yielding 1 partitions for subgraph 1."
            ),
            (120, 137, 5),
        ),
        # two delegates applied in turn: the last partitioning is the one that runs
        (
            (
                "VERBOSE: Replacing 5 out of 64 node(s) with delegate (TfLiteNnapiDelegate) node, yielding 5 partitions for the whole graph.\n"
                "VERBOSE: Replacing 59 out of 62 node(s) with delegate (TfLiteXNNPackDelegate) node, yielding 5 partitions for the whole graph."
            ),
            (59, 62, 5),
        ),
        # fully delegated, the VERBOSE "Replacing" line hidden (non-Android builds)
        (
            "INFO: Explicitly applied GPU delegate, and the model graph will be completely executed by the delegate.",
            (None, None, 1),
        ),
    ],
)
def test_delegation_line_variants(line, expected):
    # the run of test 2 with its own delegation lines replaced by `line`
    run = [
        text_line
        for text_line in WITHOUT_PERCENTILES.splitlines()
        if "Replacing" not in text_line and "Explicitly applied" not in text_line
    ]
    result = parse_benchmark_output("\n".join([line] + run))
    assert result["status"] == "ok"
    assert (result["delegated_nodes"], result["total_nodes"], result["partitions"]) == expected


@pytest.mark.parametrize(
    "failure",
    [
        "ERROR: Failed to initialize the interpreter",
        "ERROR: Failed to allocate tensors!",
        "ERROR: Failed to mmap model /data/local/tmp/missing.tflite",
        "ERROR: Disallowed CPU fallback detected.",
    ],
)
def test_failures_before_the_runs(failure):
    text = (
        "INFO: STARTING!\nINFO: Graph: [/data/local/tmp/swiftformer_xs_fp32.tflite]\n"
        f"{failure}\nERROR: Benchmarking failed.\n"
    )
    result = parse_benchmark_output(text)
    assert result["status"] == "failed"
    assert result["reason"] == failure[len("ERROR: ") :] + "; Benchmarking failed."


@pytest.mark.parametrize(
    "failure",
    [
        "Failed to create GPU delegate",
        "NNAPI delegate failed",
        "Disallowed CPU fallback detected.",
    ],
)
def test_bare_failure_lines_are_errors(failure):
    # Builds whose tool lines had no severity prefix: judged by their wording.
    text = f"STARTING!\nLoaded model swiftformer_xs_fp32.tflite\n{failure}\nBenchmarking failed.\n"
    result = parse_benchmark_output(text)
    assert result["status"] == "failed"
    assert result["reason"] == f"{failure}; Benchmarking failed."


def test_invoke_failure_after_the_timings_fails_the_result():
    # An invoke that fails during the measured runs: the tool still prints its timings,
    # then "Benchmarking failed." (benchmark_main.cc). The numbers are kept, the status not.
    text = (
        MODERN_WITH_PERCENTILES.replace(
            "INFO: count=139 ",
            "ERROR: Node number 12 (TfLiteXNNPackDelegate) failed to invoke.\nINFO: count=139 ",
        )
        + "ERROR: Benchmarking failed.\n"
    )
    result = parse_benchmark_output(text)
    assert_fields(
        result,
        status="failed",
        avg_ms=7.2046,
        runs=139,
        reason="Node number 12 (TfLiteXNNPackDelegate) failed to invoke.; Benchmarking failed.",
    )


def test_delegate_fallback_that_still_runs_keeps_the_warning():
    # An app-style log: the GPU delegate is undone and the interpreter runs on the CPU.
    text = MODERN_WITH_PERCENTILES.replace(
        "INFO: Explicitly applied XNNPACK delegate, and the model graph will be completely executed by the delegate.\n",
        "ERROR: Restored original execution plan after delegate application failure.\n",
    )
    result = parse_benchmark_output(text)
    assert_fields(
        result,
        status="ok",
        avg_ms=7.2046,
        delegated_nodes=0,
        partitions=0,
        total_nodes=137,
        reason="Restored original execution plan after delegate application failure.",
    )


# ----------------------------------------------------------------------------------------
# 8. Memory
# ----------------------------------------------------------------------------------------


def test_memory_prefers_the_periodic_peak_then_the_overall_delta():
    assert parse_benchmark_output(MODERN_WITH_PERCENTILES)["memory_mb"] == approx(41.8672)
    assert parse_benchmark_output(WITHOUT_PERCENTILES)["memory_mb"] == approx(34.5234)
    only_peak = MODERN_WITH_PERCENTILES.replace(
        "INFO: Memory footprint delta from the start of the tool (MB): init=21.9492 overall=34.5234\n", ""
    )
    assert parse_benchmark_output(only_peak)["memory_mb"] == approx(41.8672)


def test_memory_line_of_older_builds():
    # The same delta was called "Peak memory footprint" before (2021 builds).
    text = """\
Initialized session in 18.738ms.
Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 180 seconds.
count=6 first=140706 curr=74599 min=74599 max=140706 avg=85791.2 std=24559

Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 180 seconds.
count=50 first=74456 curr=74516 min=73909 max=75323 avg=74481.6 std=268

Inference timings in us: Init: 18738, First inference: 140706, Warmup (avg): 85791.2, Inference (avg): 74481.6
Note: as the benchmark tool itself affects memory footprint, the following is only APPROXIMATE to the actual memory footprint of the model at runtime. Take the information at your discretion.
Peak memory footprint (MB): init=6.44141 overall=64.8633
"""
    result = parse_benchmark_output(text)
    assert_fields(
        result, status="ok", reason=None, runs=50, avg_ms=74.4816, std_ms=0.268, init_ms=18.738, memory_mb=64.8633
    )


# ----------------------------------------------------------------------------------------
# 9. Empty, garbage and truncated texts: "failed" with a reason, never an exception
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, reason",
    [
        ("", "empty benchmark output"),
        ("   \n\r\n\t\n", "empty benchmark output"),
        (None, "empty benchmark output"),
        (b"", "empty benchmark output"),
        ("Lorem ipsum dolor sit amet\n42\n", "no benchmark_model output found in the text"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "no benchmark_model output found in the text"),
        (12345, "no benchmark_model output found in the text"),
        ("/system/bin/sh: /data/local/tmp/benchmark_model: not found\n", "no benchmark_model output found in the text"),
    ],
)
def test_empty_and_garbage_texts(text, reason):
    result = parse_benchmark_output(text)
    assert set(result) == set(RESULT_KEYS)
    assert result["status"] == "failed"
    assert result["reason"] == reason
    assert result["avg_ms"] is None


def test_truncated_after_the_warmup_does_not_pass_the_warmup_for_the_result():
    text = MODERN_WITH_PERCENTILES.split("INFO: Running benchmark for at least 100")[0]
    result = parse_benchmark_output(text)
    assert_fields(
        result,
        status="failed",
        avg_ms=None,
        runs=None,
        std_ms=None,
        first_ms=8.762,
        warmup_avg_ms=7.40162,
        init_ms=11.852,
        reason="the output ends before the inference results (truncated?)",
    )


def test_truncated_inside_the_inference_stats_line():
    text = MODERN_WITH_PERCENTILES.split("avg=7204.6")[0] + "avg=72"
    result = parse_benchmark_output(text)
    assert_fields(
        result, status="failed", avg_ms=None, reason="the output ends before the inference results (truncated?)"
    )


def test_truncated_before_the_runs():
    text = MODERN_WITH_PERCENTILES.split("INFO: Running benchmark")[0]
    result = parse_benchmark_output(text)
    assert_fields(
        result,
        status="failed",
        init_ms=11.852,
        delegated_nodes=137,
        reason="the output has no inference timings (truncated before the benchmark runs?)",
    )


def test_dry_run_measures_nothing():
    text = """\
INFO: Run w/o invoking kernels: [1]
INFO: Initialized session in 5.2ms.
INFO: Running benchmark for at least 0 iterations and at least -1 seconds but terminate if exceeding 150 seconds.
INFO: count=0

INFO: Running benchmark for at least 0 iterations and at least -1 seconds but terminate if exceeding 150 seconds.
INFO: count=0

INFO: Inference timings in us: Init: 5200, First inference: 0, Warmup (avg): nan, Inference (avg): -nan
"""
    result = parse_benchmark_output(text)
    assert_fields(
        result,
        status="failed",
        runs=0,
        avg_ms=None,
        warmup_avg_ms=None,
        init_ms=5.2,
        reason="no inference runs were measured (count=0)",
    )


def test_carriage_returns_of_adb_shell_are_tolerated():
    text = OP_PROFILE_RUN.replace("\n", "\r\r\n")
    result = parse_benchmark_output(text)
    assert_fields(result, status="ok", runs=64, avg_ms=15.5176)


def test_an_internal_error_becomes_a_failed_result(monkeypatch):
    def broken(lines):
        raise RuntimeError("boom")

    monkeypatch.setattr(parse, "_scan", broken)
    result = parse_benchmark_output(MODERN_WITH_PERCENTILES)
    assert result["status"] == "failed"
    assert result["reason"] == "could not parse the benchmark output (RuntimeError: boom)"


# ----------------------------------------------------------------------------------------
# 11. Published outputs (tests/fixtures/benchmark_model/), read as a person reads them
# ----------------------------------------------------------------------------------------

BENCHMARK_FIXTURES = os.path.join(FIXTURES, "benchmark_model")


def fixture(name):
    with open(os.path.join(BENCHMARK_FIXTURES, name), encoding="utf-8") as file:
        return file.read()


def test_litert_tool_with_stats_lines_and_overall_footprint():
    # "LiteRT Build Instructions", Linux "Verify Installation" example output of
    # bazel-bin/litert/tools/benchmark_model --graph=blaze_face_short_range.tflite --num_threads=4
    # (a copy of google-ai-edge/LiteRT's BUILD_INSTRUCTIONS.md of September 2025, found in the
    # code index without its repository; the LiteRT history mirrored here no longer has it).
    result = parse_benchmark_output(fixture("litert_build_instructions_cpu.txt"))
    assert_fields(
        result,
        status="ok",
        runs=1054,
        avg_ms=0.947132,
        init_ms=5.757,
        first_ms=2.125,
        warmup_avg_ms=0.949861,
        min_ms=0.910,
        max_ms=1.102,
        std_ms=0.023,
        median_ms=0.942,
        memory_mb=7.07,  # "Overall footprint:    7.07 MB", the only memory line
    )


def test_litert_summary_block_alone_is_a_result():
    # mlcommons/mobile_app_open issue #1134 ("LiteRT and iOS support"), comment of 2026-07-28:
    # LiteRT 2.1.5 benchmark_model --use_gpu=1 --use_cpu=0 --require_full_delegation=1 on a
    # Llama prefill signature; only the summary block was posted (the text ends where the
    # issue's excerpt ends, at the "Peak memory" line).
    result = parse_benchmark_output(fixture("litert_summary_only_gpu.txt"))
    assert_fields(
        result,
        status="ok",
        reason=None,
        runs=10,
        avg_ms=7430.20,
        init_ms=23744.73,
        first_ms=7441.04,
        warmup_avg_ms=7441.04,
        min_ms=7416.40,
        max_ms=7448.86,
        std_ms=9.92,
        median_ms=None,
        p5_ms=None,
        p95_ms=None,
        memory_mb=6391.74,
    )


def test_litert_summary_block_follows_the_source_formats():
    # The other lines of benchmark_litert_model.h (not in the published outputs above):
    # the periodic peak, and the zero-run case.
    text = (
        "INFO: [./litert/tools/benchmark_litert_model.h:88] Inference (avg):      12.30 ms (50 runs)\n"
        "INFO: [./litert/tools/benchmark_litert_model.h:116] Overall footprint:    7.07 MB\n"
        "INFO: [./litert/tools/benchmark_litert_model.h:121] Peak memory:          9.50 MB\n"
    )
    assert_fields(parse_benchmark_output(text), status="ok", avg_ms=12.30, runs=50, memory_mb=9.50)
    no_runs = (
        "INFO: [benchmark_litert_model.h:100] Inference (avg):      nan ms (0 runs)\n"
        "INFO: [benchmark_litert_model.h:110] No inference runs were performed.\n"
    )
    result = parse_benchmark_output(no_runs)
    assert_fields(result, status="failed", runs=0, avg_ms=None)
    assert "no inference runs were measured" in result["reason"]


def test_litert_use_profiler_run_gives_its_timings():
    # ArmDeveloperEcosystem/arm-learning-paths content/learning-paths/mobile-graphics-and-gaming/
    # litert-sme/4-benchmark.md: taskset 80 ./benchmark_model --graph=./fc_fp32.tflite
    # --num_runs=1000 --num_threads=1 --use_cpu=true --use_profiler=true (KleidiAI/SME2 run).
    result = parse_benchmark_output(fixture("litert_sme2_use_profiler.txt"))
    assert_fields(
        result,
        status="ok",
        runs=2112,
        avg_ms=0.464545,
        init_ms=4.478,
        memory_mb=11.51,
        delegated_nodes=1,
        total_nodes=1,
        partitions=1,
    )


def test_two_delegates_the_unused_second_keeps_the_first_ones_coverage():
    # A public GitHub Python script for mask_estimator_phy.tflite whose trailing docstring holds
    # this log (benchmark_model --num_threads=2 --use_gpu=true --use_nnapi=true on a phone; found
    # through the code index, which does not name the repository): the GPU takes 49 of 49 nodes,
    # then NNAPI finds nothing left.
    result = parse_benchmark_output(fixture("tflite_gpu_then_nnapi.txt"))
    assert_fields(
        result,
        status="ok",
        runs=50,
        avg_ms=309.350,
        init_ms=5664.363,
        std_ms=4.411,
        memory_mb=375.48,
        delegated_nodes=49,
        total_nodes=49,
        partitions=1,
        reason="Though NNAPI delegate is explicitly applied, the model graph will not be executed by the delegate.",
    )


def test_unused_explicit_delegate_after_the_default_xnnpack_keeps_xnnpack_coverage():
    text = MODERN_WITH_PERCENTILES.replace(
        "INFO: Explicitly applied XNNPACK delegate, and the model graph will be completely executed by the delegate.",
        "INFO: Though NNAPI delegate is explicitly applied, the model graph will not be executed by the delegate.",
    )
    assert_fields(parse_benchmark_output(text), delegated_nodes=137, total_nodes=137, partitions=1)


def test_android_studio_logcat_without_the_date():
    # Android Studio's Logcat window with the date hidden (Format: time only). No published
    # copy of benchmark output in this form was found; the line follows the window's columns
    # (time, pid-tid, tag, package, level, message) and the values of test 4's APK run.
    messages = [line.split(" I tflite  : ", 1)[1] for line in APK_LOGCAT.splitlines() if " I tflite  : " in line]
    text = "\n".join(
        "10:04:31.319  2638-2638  tflite                  org.tensorflow.lite.benchmark        I  " + message
        for message in messages
    )
    result = parse_benchmark_output(text)
    assert_fields(
        result,
        status="ok",
        runs=209,
        avg_ms=4.78545,
        min_ms=4.690,
        max_ms=5.230,
        std_ms=0.061,
        delegated_nodes=211,
        total_nodes=226,
        partitions=4,
    )


def test_tf_1_14_average_timings_line_followed_by_op_tables():
    # larq/compute-engine pull request #69 ("Benchmarking tool"), its truncated example output
    # (the tool built on TensorFlow Lite's benchmark_model of late 2019): the Run Order table
    # straight after "Average inference timings in us", space-aligned, names in brackets.
    result = parse_benchmark_output(fixture("lce_average_timings_then_run_order.txt"))
    assert_fields(result, status="ok", avg_ms=422.959, warmup_avg_ms=420.198, init_ms=63.227)


# ----------------------------------------------------------------------------------------
# 12. Pathological texts: every pattern runs in linear time (issue 25)
# ----------------------------------------------------------------------------------------

# Before issue 25 each text below kept the parser busy from over ten seconds to hours (patterns
# that backtrack quadratically or worse); now each takes a few tenths of a second at most. They
# are parsed in a fresh interpreter, killed after PATHOLOGICAL_TIMEOUT_S: `re` holds the GIL
# while it matches, so a runaway match can be neither interrupted nor timed out in-process.
PATHOLOGICAL_TIME_BOUND_S = 2.0
PATHOLOGICAL_TIMEOUT_S = 10
MB = 1_000_000
NOTHING_FOUND = {
    **dict.fromkeys(RESULT_KEYS),
    "status": "failed",
    "reason": "no benchmark_model output found in the text",
}
PROFILE_RUN_ORDER = (
    "Operator-wise Profiling Info for Regular Benchmark Runs:\n"
    "============================== Run Order ==============================\n"
)

PARSE_IN_A_FRESH_INTERPRETER = """\
import json, sys, time
from android_bench.op_profile import parse_op_profile
from android_bench.parse import parse_benchmark_output
text = sys.stdin.buffer.read().decode("utf-8")  # bytes: a text-mode stdin would rewrite "\\r"
timed = {}
for function in (parse_benchmark_output, parse_op_profile):
    start = time.perf_counter()
    result = function(text)
    timed[function.__name__] = {"seconds": time.perf_counter() - start, "result": result}
print(json.dumps(timed))
"""


def parse_with_a_deadline(text):
    """{function: {"seconds": ..., "result": ...}} for both parsers of benchmark_model's text on `text`."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", PARSE_IN_A_FRESH_INTERPRETER],
            input=text.encode("utf-8"),
            capture_output=True,
            check=False,
            timeout=PATHOLOGICAL_TIMEOUT_S,
            env={**os.environ, "PYTHONPATH": ROOT},
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"parsing did not finish in {PATHOLOGICAL_TIMEOUT_S} s (killed)")
    assert done.returncode == 0, done.stderr.decode()
    return json.loads(done.stdout)


def assert_fast(timed):
    for function, run in timed.items():
        assert run["seconds"] < PATHOLOGICAL_TIME_BOUND_S, f"{function} took {run['seconds']:.1f} s"


PATHOLOGICAL_TEXTS = {
    # 1 MB of one character, no newline: the QNN summary's leading `\S+` was tried from every
    # position of the word and reread the rest of it each time (100 kB of "x": 39 s).
    **{
        f"1MB-of-{name}": char * MB
        for name, char in (
            ("x", "x"),
            ("digits", "1"),
            ("colons", ":"),
            ("equals", "="),
            ("parens", "("),
            ("brackets", "["),
            ("slashes", "/"),
            ("dots", "."),
        )
    },
    # a logcat prefix and then no tag: `\s+(?P<tag>[^:]*?)\s*:` split the spaces every way (cubic)
    "logcat-threadtime-prefix-then-1MB-of-spaces": "11-24 10:00:00.123  4321  4321 I" + " " * MB,
    "logcat-brief-prefix-then-1MB-of-spaces": "I/" + " " * MB,
    # one summary's opening repeated: the lazy provider name read on to the line's end from each
    "explicitly-applied-repeated": "Explicitly applied " * (MB // 19),
    "though-repeated": "Though " * (MB // 7),
    # a 200 kB line that is almost the QNN summary ("partition" for "partitions")
    "qnn-summary-near-miss-200kB": "TfLiteQnnDelegate"
    + "x" * 200_000
    + " delegate: 357 nodes delegated out of 357 nodes with 1 partition",
    # a banner's rule that ends in something else: the banner regex was cubic in its length
    "banner-rule-then-x": "=" * 200_000 + "x",
    # profile tables: a header of unclosed brackets, a row with 1 MB of spaces before its one
    # number (the header asks for two), a header of 100k columns
    "profile-header-of-unclosed-brackets": PROFILE_RUN_ORDER + "\t[node type]" + "[" * MB,
    "profile-row-with-1MB-of-spaces": PROFILE_RUN_ORDER + "\t[node type]\t[first]\t[avg ms]\nGELU" + " " * MB + "1.5",
    "profile-header-of-100k-columns": PROFILE_RUN_ORDER
    + "\t[node type]"
    + "\t[c]" * 100_000
    + "\nGELU"
    + "\t1" * 100_000,
    # carriage returns with no newline: `\r+\n` was retried from each of them
    "200k-carriage-returns": "\r" * 200_000 + "x",
}


@pytest.mark.parametrize("text", PATHOLOGICAL_TEXTS.values(), ids=PATHOLOGICAL_TEXTS.keys())
def test_pathological_text_finds_nothing_in_linear_time(text):
    timed = parse_with_a_deadline(text)
    assert timed["parse_benchmark_output"]["result"] == NOTHING_FOUND
    assert timed["parse_op_profile"]["result"] == []
    assert_fast(timed)


# A near miss of each pattern that searches a whole line, each repeated over a 100 kB line.
NEAR_MISSES = (
    "Replacing 1 out of 2 node(s) with delegate (x) node, yielding partitions ",
    "Explicitly applied ",
    "Though ",
    "x delegate: 1 nodes delegated out of 2 nodes with partitions ",
    "Inference timings in us ",
    "Memory footprint delta from the start of the tool (MB): init=1 overall=x ",
    "Overall peak memory footprint (MB) via periodic monitoring: x ",
    "Overall max resident set size = 1 GB ",
    "Running benchmark for x ",
    "Initialized session in x ",
    "Inference (avg): x ",
    "Overall footprint: x ",
    "[a.h:x] ",
    "I0000 x ",
    "Operator-wise Profiling Info for Regular Benchmark Run ",
    "===== Run Order ==== ",
)


def test_near_misses_of_every_pattern_find_nothing_in_linear_time():
    text = "\n".join(near_miss * (100_000 // len(near_miss)) for near_miss in NEAR_MISSES)
    timed = parse_with_a_deadline(text)
    assert timed["parse_benchmark_output"]["result"] == NOTHING_FOUND
    assert timed["parse_op_profile"]["result"] == []
    assert_fast(timed)


def test_op_name_with_1MB_of_spaces_is_read_whole_in_linear_time():
    # The lazy name before the final `\s*$` reread the rest of the run of spaces from each
    # space in it (quadratic); the row is still read, its name whole.
    name = "gelu" + " " * MB + "x"
    timed = parse_with_a_deadline(PROFILE_RUN_ORDER + "\t[node type]\t[first]\t[Name]\nGELU\t1.5\t" + name)
    rows = [
        {
            "section": "regular",
            "graph": "primary",
            "table": "run_order",
            "node_type": "GELU",
            "first_ms": 1.5,
            "name": name,
        }
    ]
    assert timed["parse_op_profile"]["result"] == rows
    assert timed["parse_benchmark_output"]["result"] == NOTHING_FOUND
    assert_fast(timed)
