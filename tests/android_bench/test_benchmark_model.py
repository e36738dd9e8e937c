"""android_bench/benchmark_model.py: the benchmark_model command line of every delegate."""

import pytest

from android_bench import benchmark_model
from android_bench.commands import Result


@pytest.mark.parametrize(
    "delegate, flags",
    [
        ("xnnpack", ["--use_xnnpack=true"]),
        ("cpu", ["--use_xnnpack=false"]),
        ("nnapi", ["--use_nnapi=true", "--use_xnnpack=false"]),
        ("gpu", ["--use_gpu=true", "--use_xnnpack=false"]),
    ],
)
def test_benchmark_command_for_every_delegate(delegate, flags):
    command = benchmark_model.benchmark_command(
        "/data/local/tmp/benchmark_model", "/data/local/tmp/m.tflite", delegate, 4, 50, 5, False, None
    )
    assert command == [
        "/data/local/tmp/benchmark_model",
        "--graph=/data/local/tmp/m.tflite",
        "--num_threads=4",
        "--num_runs=50",
        "--warmup_runs=5",
        "--min_secs=0",
        "--warmup_min_secs=0",
        "--max_secs=300",
        *flags,
    ]


def test_benchmark_command_with_cpu_mask_op_profiling_and_max_secs():
    command = benchmark_model.benchmark_command("bm", "m.tflite", "xnnpack", 1, 7, 0, True, "f0", max_secs=42.5)
    assert command == [
        "taskset",
        "f0",
        "bm",
        "--graph=m.tflite",
        "--num_threads=1",
        "--num_runs=7",
        "--warmup_runs=0",
        "--min_secs=0",
        "--warmup_min_secs=0",
        "--max_secs=42.5",
        "--use_xnnpack=true",
        "--enable_op_profiling=true",
    ]


def test_benchmark_command_refuses_an_unknown_delegate():
    with pytest.raises(ValueError, match="tpu"):
        benchmark_model.benchmark_command("bm", "m.tflite", "tpu", 1, 1, 1)


# --- LiteRT's CompiledModel tool (google-ai-edge/LiteRT litert/tools/benchmark_litert_model.h) ---


@pytest.mark.parametrize(
    "delegate, flags",
    [
        ("xnnpack", ["--use_cpu=true"]),
        ("gpu", ["--use_gpu=true"]),
        ("npu", ["--use_npu=true"]),
    ],
)
def test_litert_command_selects_accelerators_with_its_own_flags(delegate, flags):
    command = benchmark_model.benchmark_command(
        "/data/local/tmp/benchmark_model", "/data/local/tmp/m.tflite", delegate, 4, 50, 5, tool="litert"
    )
    assert command == [
        "/data/local/tmp/benchmark_model",
        "--graph=/data/local/tmp/m.tflite",
        "--num_threads=4",
        "--num_runs=50",
        "--warmup_runs=5",
        "--min_secs=0",
        "--warmup_min_secs=0",
        "--max_secs=300",
        *flags,
    ]


def test_litert_command_profiles_with_use_profiler():
    command = benchmark_model.benchmark_command(
        "bm", "m.tflite", "gpu", 1, 7, 0, True, "f0", max_secs=42.5, tool="litert"
    )
    assert command == [
        "taskset",
        "f0",
        "bm",
        "--graph=m.tflite",
        "--num_threads=1",
        "--num_runs=7",
        "--warmup_runs=0",
        "--min_secs=0",
        "--warmup_min_secs=0",
        "--max_secs=42.5",
        "--use_gpu=true",
        "--use_profiler=true",
    ]


@pytest.mark.parametrize("tool, delegate", [("litert", "nnapi"), ("litert", "cpu"), ("tflite", "npu")])
def test_a_delegate_the_tool_does_not_have_is_refused(tool, delegate):
    with pytest.raises(ValueError, match=f"{delegate}.*{tool}"):
        benchmark_model.benchmark_command("bm", "m.tflite", delegate, 1, 1, 1, tool=tool)


def test_unknown_tool_is_refused():
    with pytest.raises(ValueError, match="tflite, litert"):
        benchmark_model.benchmark_command("bm", "m.tflite", "gpu", 1, 1, 1, tool="onnx")
    with pytest.raises(ValueError, match="onnx"):
        benchmark_model.delegate_flags("onnx")


def test_the_tool_chooses_the_flags_and_the_judging():
    assert benchmark_model.benchmark_command("bm", "m.tflite", "gpu", 1, 1, 1, tool="litert")[-1] == "--use_gpu=true"
    # an old TFLite tool given the LiteRT flag ignores it: the row is not a GPU measurement
    result = Result(0, "STARTING!\nUnconsumed cmdline flags: --use_gpu=true\n", None)
    status, reason, trusted = benchmark_model.judge(result, {"status": "ok", "avg_ms": 1.0}, "gpu", 1, tool="litert")
    assert (status, trusted) == ("failed", False) and "--use_gpu=true" in reason
    assert benchmark_model.benchmark_command("bm", "m.tflite", "gpu", 1, 1, 1)[-2:] == [
        "--use_gpu=true",
        "--use_xnnpack=false",
    ]
