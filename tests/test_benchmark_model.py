"""android_bench/benchmark_model.py: the benchmark_model command line of every delegate."""

import pytest

from android_bench import benchmark_model


@pytest.mark.parametrize("delegate, flags", [
    ("xnnpack", ["--use_xnnpack=true"]),
    ("cpu", ["--use_xnnpack=false"]),
    ("nnapi", ["--use_nnapi=true", "--use_xnnpack=false"]),
    ("gpu", ["--use_gpu=true", "--use_xnnpack=false"]),
])
def test_benchmark_command_for_every_delegate(delegate, flags):
    command = benchmark_model.benchmark_command("/data/local/tmp/benchmark_model", "/data/local/tmp/m.tflite",
                                                delegate, 4, 50, 5, False, None)
    assert command == [
        "/data/local/tmp/benchmark_model", "--graph=/data/local/tmp/m.tflite", "--num_threads=4",
        "--num_runs=50", "--warmup_runs=5", "--min_secs=0", "--warmup_min_secs=0", "--max_secs=300",
        *flags,
    ]


def test_benchmark_command_with_cpu_mask_op_profiling_and_max_secs():
    command = benchmark_model.benchmark_command("bm", "m.tflite", "xnnpack", 1, 7, 0, True, "f0", max_secs=42.5)
    assert command == [
        "taskset", "f0", "bm", "--graph=m.tflite", "--num_threads=1", "--num_runs=7", "--warmup_runs=0",
        "--min_secs=0", "--warmup_min_secs=0", "--max_secs=42.5", "--use_xnnpack=true",
        "--enable_op_profiling=true",
    ]


def test_benchmark_command_refuses_an_unknown_delegate():
    with pytest.raises(ValueError, match="tpu"):
        benchmark_model.benchmark_command("bm", "m.tflite", "tpu", 1, 1, 1)
