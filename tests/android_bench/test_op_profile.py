"""android_bench.op_profile: the operator-profiling tables of benchmark_model (--enable_op_profiling=true,
LiteRT's --use_profiler) in every form the tool prints them.

The texts are test_parse.py's (whole benchmark runs, their timings tested there) and the published
outputs of tests/fixtures/benchmark_model/; pathological texts, read in linear time, are test_parse.py's
section 12, which runs both parsers.
"""

from test_parse import MODERN_WITH_PERCENTILES, OP_PROFILE_RUN, assert_fields, fixture

from android_bench.op_profile import parse_op_profile


def test_both_profiles_every_table_and_column():
    profile = parse_op_profile(OP_PROFILE_RUN)
    summary = [row for row in profile if row["section"] == "regular" and row["table"] == "summary_by_node_type"]
    assert summary == [
        {
            "section": "regular",
            "graph": "primary",
            "table": "summary_by_node_type",
            "node_type": "Convolution (NHWC, F32) GEMM",
            "count": 62,
            "avg_ms": 5.236,
            "pct": 34.361,
            "cdf_pct": 34.361,
            "mem_kb": 0.0,
            "times_called": 101,
        },
        {
            "section": "regular",
            "graph": "primary",
            "table": "summary_by_node_type",
            "node_type": "Convolution (NHWC, F32) DWConv",
            "count": 51,
            "avg_ms": 4.460,
            "pct": 29.269,
            "cdf_pct": 63.630,
            "mem_kb": 0.0,
            "times_called": 80,
        },
        {
            "section": "regular",
            "graph": "primary",
            "table": "summary_by_node_type",
            "node_type": "SOFTMAX",
            "count": 1,
            "avg_ms": 0.063,
            "pct": 0.413,
            "cdf_pct": 64.043,
            "mem_kb": 0.0,
            "times_called": 1,
        },
    ]
    run_order = [row for row in profile if row["section"] == "regular" and row["table"] == "run_order"]
    assert [row["node_type"] for row in run_order] == [
        "Convolution (NHWC, F32) IGEMM",
        "Convolution (NHWC, F32) DWConv",
        "GELU",
    ]
    assert run_order[1] == {
        "section": "regular",
        "graph": "primary",
        "table": "run_order",
        "node_type": "Convolution (NHWC, F32) DWConv",
        "first_ms": 0.428,
        "avg_ms": 0.051,
        "pct": 4.317,
        "cdf_pct": 6.975,
        "mem_kb": 0.0,
        "times_called": 13,
        "name": "Delegate/Convolution (NHWC, F32) DWConv:1",
    }
    assert run_order[2]["name"] == "[swift_former/stage_0/mlp/gelu]:12"
    top = [row for row in profile if row["table"] == "top_by_computation_time"]
    assert len(top) == 1 and top[0]["cdf_pct"] == 4.317
    init = [row for row in profile if row["section"] == "init"]
    assert [(row["table"], row["node_type"], row["avg_ms"], row.get("mem_kb")) for row in init] == [
        ("run_order", "ModifyGraphWithDelegate", 6.348, 7148.0),
        ("run_order", "AllocateTensors", 5.061, 10292.0),
        ("summary_by_node_type", "ModifyGraphWithDelegate", 6.348, 7148.0),
        ("summary_by_node_type", "AllocateTensors", 5.061, 10292.0),
    ]
    assert len(profile) == 3 + 1 + 3 + 4


def test_op_profile_in_apk_logcat_with_start_column_of_older_builds():
    prefix = "05-31 10:31:15.210 21767 21767 I tflite  : "
    table = [
        "Operator-wise Profiling Info for Regular Benchmark Runs:",
        "============================== Run Order ==============================",
        "\t             [node type]\t          [start]\t  [first]\t [avg ms]\t     [%]\t  [cdf%]\t  [mem KB]"
        "\t[times called]\t[Name]",
        "\t     TfLiteNnapiDelegate\t            0.000\t    3.826\t    4.011\t 62.037%\t 62.037%\t     0.000"
        "\t        1\t[]:64",
        "\t RESIZE_NEAREST_NEIGHBOR\t            4.013\t    0.052\t    0.058\t  0.899%\t 62.936%\t     0.000"
        "\t        1\t[]:38",
        "",
    ]
    rows = parse_op_profile("\n".join(prefix + line for line in table))
    assert rows == [
        {
            "section": "regular",
            "graph": "primary",
            "table": "run_order",
            "node_type": "TfLiteNnapiDelegate",
            "start_ms": 0.0,
            "first_ms": 3.826,
            "avg_ms": 4.011,
            "pct": 62.037,
            "cdf_pct": 62.037,
            "mem_kb": 0.0,
            "times_called": 1,
            "name": "[]:64",
        },
        {
            "section": "regular",
            "graph": "primary",
            "table": "run_order",
            "node_type": "RESIZE_NEAREST_NEIGHBOR",
            "start_ms": 4.013,
            "first_ms": 0.052,
            "avg_ms": 0.058,
            "pct": 0.899,
            "cdf_pct": 62.936,
            "mem_kb": 0.0,
            "times_called": 1,
            "name": "[]:38",
        },
    ]


def test_op_profile_csv_output_mode_and_subgraphs():
    # --op_profiling_output_mode=csv (ProfileSummaryCSVFormatter): comma-separated columns;
    # node types keep their own commas. A model with a second subgraph names each graph.
    text = """\
Operator-wise Profiling Info for Regular Benchmark Runs:
Primary graph profile:
============================== Run Order ==============================
node type, first, avg_ms, %, cdf%, mem KB, times called, name
Fully Connected (NC, F32) GEMM, 0.21, 0.205, 40.1%, 40.1%, 0, 2, Delegate/Fully Connected (NC, F32) GEMM:0
WHILE, 0.3, 0.306, 59.9%, 100%, 0, 1, [while]:1

============================== Summary by node type ==============================
node type, count, avg_ms, avg %, cdf %, mem KB, times called
WHILE, 1, 0.306, 59.9%, 59.9%, 0, 1
Fully Connected (NC, F32) GEMM, 1, 0.205, 40.1%, 100%, 0, 2

Timings (microseconds): count=50 first=520 curr=511 min=502 max=540 avg=511.2 std=7
Memory (bytes): count=0
2 nodes observed

Subgraph (index: 1) profile:
============================== Summary by node type ==============================
node type, count, avg_ms, avg %, cdf %, mem KB, times called
ADD, 1, 0.01, 100%, 100%, 0, 4

Subgraph (index: 1) Timings (microseconds): count=50 first=11 curr=10 min=9 max=12 avg=10.1 std=1
"""
    rows = parse_op_profile(text)
    assert rows[0] == {
        "section": "regular",
        "graph": "primary",
        "table": "run_order",
        "node_type": "Fully Connected (NC, F32) GEMM",
        "first_ms": 0.21,
        "avg_ms": 0.205,
        "pct": 40.1,
        "cdf_pct": 40.1,
        "mem_kb": 0.0,
        "times_called": 2,
        "name": "Delegate/Fully Connected (NC, F32) GEMM:0",
    }
    assert [(row["graph"], row["table"], row["node_type"]) for row in rows] == [
        ("primary", "run_order", "Fully Connected (NC, F32) GEMM"),
        ("primary", "run_order", "WHILE"),
        ("primary", "summary_by_node_type", "WHILE"),
        ("primary", "summary_by_node_type", "Fully Connected (NC, F32) GEMM"),
        ("subgraph 1", "summary_by_node_type", "ADD"),
    ]
    assert rows[-1]["times_called"] == 4 and rows[-1]["count"] == 1


def test_no_profile_tables_no_rows():
    assert parse_op_profile(MODERN_WITH_PERCENTILES) == []
    assert parse_op_profile("") == []


def test_adb_shell_carriage_returns_end_no_table_early():
    assert parse_op_profile(OP_PROFILE_RUN.replace("\n", "\r\r\n")) == parse_op_profile(OP_PROFILE_RUN)


# --- published outputs (tests/fixtures/benchmark_model/; test_parse.py cites their sources) ---------


def test_litert_use_profiler_tables_without_a_heading():
    ops = parse_op_profile(fixture("litert_sme2_use_profiler.txt"))
    assert {row["table"] for row in ops} == {"run_order", "top_by_computation_time", "summary_by_node_type"}
    assert all(row["section"] == "regular" for row in ops) and len(ops) == 15
    gemm = next(row for row in ops if row["table"] == "summary_by_node_type")
    assert gemm["node_type"] == "Fully Connected (NC, PF32) GEMM"
    assert_fields(gemm, avg_ms=0.382, pct=93.171, count=1, times_called=1)


def test_tf_1_14_run_order_after_the_average_timings_line_without_a_heading():
    ops = parse_op_profile(fixture("lce_average_timings_then_run_order.txt"))
    assert len(ops) == 7 and ops[0]["table"] == "run_order" and ops[0]["section"] == "regular"
    assert_fields(ops[0], node_type="Bconv2d64", avg_ms=1.016, name="[model/tf_op_layer_64-1-1-binary/64-1-1-binary]")
    assert_fields(ops[3], node_type="CONV_2D", avg_ms=5.362)


def test_banners_that_are_not_profile_tables_open_no_profile():
    assert parse_op_profile(fixture("litert_build_instructions_cpu.txt")) == []
