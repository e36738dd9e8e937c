"""swiftformer_keras/lite/kernel_profile.py: perf samples of XNNPACK grouped by micro-kernel, on a real
perf report and on real `perf record` runs of the trained model's files."""

import os
import subprocess

import pytest

from conftest import FIXTURES, ROOT
from swiftformer_keras.lite import kernel_profile

FIXTURE = os.path.join(FIXTURES, "perf", "xs_int8_224_litert_2.3_2_threads.txt")
# 2000 consecutive samples of `perf script -F pid,tid,time,ip,sym` from a recording of XS int8 at
# 224x224 invoked in a loop, 2 threads, LiteRT 2.3 (process 3810, its pool thread 3815).
SCRIPT_FIXTURE = os.path.join(FIXTURES, "perf", "xs_int8_224_litert_2.3_2_threads_script.txt")


def test_a_recorded_report_is_grouped_by_kind_of_kernel():
    with open(FIXTURE) as file:
        symbols = kernel_profile.parse_report(file.read())
    # The figures a person reads off the report: 46 symbols, 1555 samples, the AMX GEMM on top.
    assert len(symbols) == 46 and sum(samples for _, samples, _ in symbols) == 1555
    assert symbols[0] == ("xnn_qs8_qc8w_gemm_minmax_fp32_ukernel_16x64c4__avx512amx", 435, False)
    profile = kernel_profile.summarise(symbols, median_ms=2.0)
    kinds = profile["kinds"]
    # gemm 435 + igemm 173 + the 1x64 gemm 8: 616 of 1555 samples.
    assert kinds["GEMM"]["samples"] == 616 and kinds["GEMM"]["ms"] == pytest.approx(2.0 * 616 / 1555)
    assert kinds["element-wise add"]["top"] == "xnn_qs8_vadd_minmax_ukernel__avx512skx_mul32_ld128_u16"
    assert kinds["lookup table (int8 LOGISTIC)"]["top"] == "xnn_x8_lut_ukernel__avx512skx_vpshufb_u64"
    assert kinds["depthwise convolution"]["top"].startswith("xnn_qs8_qc8w_dwconv_")
    assert kinds["thread pool"]["top"] == "thread_main"
    assert kinds["operating system"]["top"] == "finish_task_switch.isra.0"  # a [k] line
    assert sum(entry["samples"] for entry in kinds.values()) == 1555
    assert profile["kernels"][0]["kind"] == "GEMM" and profile["kernels"][0]["share"] == pytest.approx(435 / 1555)
    table = kernel_profile.markdown({**profile, "runs": 200, "threads": 2, "runtime": "litert 2.3.0"}, "XS int8")
    assert "| GEMM | 39.6% | 0.792 | `xnn_qs8_qc8w_gemm_minmax_fp32_ukernel_16x64c4__avx512amx` |" in table


def test_a_recorded_script_says_what_runs_while_the_pool_waits():
    with open(SCRIPT_FIXTURE) as file:
        samples = kernel_profile.parse_script(file.read())
    # What a person counts in the file: 1045 samples of the calling thread, 955 of its pool thread,
    # 161 of those in the pool's own code, the first one in the AMX GEMM.
    assert len(samples) == 2000
    assert sum(tid == 3810 for _, tid, *_ in samples) == 1045 and sum(tid == 3815 for _, tid, *_ in samples) == 955
    assert samples[0] == (3810, 3815, 2824.444203, "xnn_qs8_qc8w_gemm_minmax_fp32_ukernel_16x64c4__avx512amx", False)
    found = kernel_profile.pool_wait(samples)
    assert found["pool_samples"] == 955 and found["waiting"] == pytest.approx(161 / 955)
    # The same attribution by brute force: the calling thread's nearest sample to each wait.
    calling = [(time, symbol) for _, tid, time, symbol, _ in samples if tid == 3810]
    expected = {}
    for _, tid, time, symbol, _ in samples:
        if tid == 3815 and kernel_profile.kernel_kind(symbol) == "thread pool":
            near_time, near_symbol = min(calling, key=lambda item: abs(item[0] - time))
            kind = kernel_profile.kernel_kind(near_symbol) if abs(near_time - time) <= 0.002 else "unmatched"
            expected[kind] = expected.get(kind, 0) + 1
    assert found["while"] == pytest.approx({kind: count / 955 for kind, count in expected.items()})
    assert next(iter(found["while"])) == "GEMM"  # most waits are beside the GEMMs: tiles unevenly shared
    assert sum(found["while"].values()) == pytest.approx(found["waiting"])


def test_pool_wait_without_a_pool_or_a_calling_sample_nearby():
    one_thread = [(7, 7, 1.0, "xnn_f32_vadd_ukernel__avx512f_u32", False)] * 5
    assert kernel_profile.pool_wait(one_thread) is None
    alone = [
        (7, 7, 1.0, "xnn_f32_vadd_ukernel__avx512f_u32", False),
        (7, 8, 1.5, "thread_main", False),
        (7, 8, 1.0005, "thread_main", False),
        (7, 7, 1.5, "entry_SYSCALL_64", True),
    ]
    found = kernel_profile.pool_wait(alone, window_s=0.001)
    assert found == {
        "pool_samples": 2,
        "waiting": 1.0,
        "while": pytest.approx({"element-wise add": 0.5, "operating system": 0.5}),
    }
    found = kernel_profile.pool_wait(alone[:3], window_s=0.001)
    assert found["while"] == pytest.approx({"element-wise add": 0.5, "unmatched": 0.5})


@pytest.mark.parametrize(
    "symbol, kind",
    [
        ("xnn_f32_gemm_minmax_ukernel_7x16__avx512f_broadcast", "GEMM"),
        ("xnn_qd8_f32_qc8w_igemm_minmax_ukernel_1x16c8__avx512vnni", "GEMM"),
        ("xnn_f32_dwconv_minmax_ukernel_25p16c__avx512f", "depthwise convolution"),
        ("xnn_f32_vsigmoid_ukernel__avx512f_rr2_lut32_p2_perm2_scalef_div_u64", "sigmoid and other float math"),
        ("xnn_qs8_vmulc_minmax_fp32_ukernel__avx_mul16_ld64_u16", "element-wise multiply"),
        ("xnn_f32_vsub_ukernel__avx512f_u32", "element-wise add"),
        ("xnn_f32_qs8_vcvt_ukernel__avx512skx_u128", "quantize and convert"),
        ("xnn_compute_gemm", "XNNPACK dispatch"),  # the loop around the micro-kernel, not the kernel
        ("pthreadpool_parallelize", "thread pool"),
        ("_PyEval_EvalFrameDefault", "everything else"),
    ],
)
def test_kernel_kinds(symbol, kind):
    assert kernel_profile.kernel_kind(symbol) == kind


def test_the_trained_files_are_profiled_by_kernel(cifar_tflite):
    # A small model: enough invokes for a few hundred samples, so that LOGISTIC's ~5% shows (1,500
    # int8 invokes gave 57 samples on a fast host, where LOGISTIC could miss the test by chance).
    int8 = kernel_profile.record(cifar_tflite["int8"][0], threads=1, runs=8000)
    fp32 = kernel_profile.record(cifar_tflite["fp32"][0], threads=1, runs=1500)
    assert int8["samples"] > 150
    for profile in (int8, fp32):
        assert profile["samples"] > 20 and profile["median_ms"] > 0 and profile["runtime"].startswith("litert")
        assert sum(entry["share"] for entry in profile["kinds"].values()) == pytest.approx(1.0)
        # Sampling is on for the timed invokes only: imports and model loading (Python, TensorFlow's
        # start-up) would otherwise be most of the samples.
        assert profile["kinds"].get("everything else", {"share": 0})["share"] < 0.25
    assert int8["kinds"]["GEMM"]["top"].startswith(("xnn_qs8_", "xnn_qd8_"))
    assert fp32["kinds"]["GEMM"]["top"].startswith("xnn_f32_")
    # The int8 GELU form is LOGISTIC (a table lookup in int8) and MUL; the float file keeps the exact GELU.
    assert "lookup table (int8 LOGISTIC)" in int8["kinds"]
    assert "lookup table (int8 LOGISTIC)" not in fp32["kinds"]
    assert int8["pool_idle"] is None  # one thread: no pool


def test_two_threads_say_what_the_pool_waits_beside(cifar_tflite):
    profile = kernel_profile.record(cifar_tflite["int8"][0], threads=2, runs=1500)
    idle = profile["pool_idle"]
    assert idle["pool_samples"] > 20 and 0 < idle["waiting"] < 1
    assert sum(idle["while"].values()) == pytest.approx(idle["waiting"])
    assert "The pool's other threads wait" in kernel_profile.markdown(profile)


def test_without_perf_one_line_says_how_to_install_it(cifar_tflite, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(kernel_profile.ProfileError, match="perf is not installed: sudo apt-get install linux-perf"):
        kernel_profile.record(cifar_tflite["int8"][0])


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(kernel_profile.ProfileError, match="No such .tflite file: .*missing.tflite"):
        kernel_profile.record(tmp_path / "missing.tflite")


@pytest.mark.parametrize(
    "counts, message",
    [
        ({"threads": 0}, "threads must be a whole number >= 1, got 0"),
        ({"runs": 0}, "runs must be a whole number >= 1, got 0"),
        ({"warmup": -1}, "warmup must be a whole number >= 0, got -1"),
    ],
)
def test_a_bad_count_is_refused_before_perf_starts(tmp_path, monkeypatch, counts, message):
    monkeypatch.setattr(kernel_profile.subprocess, "run", lambda *a, **k: pytest.fail("perf started"))
    (tmp_path / "model.tflite").write_bytes(b"")
    with pytest.raises(ValueError, match=message):
        kernel_profile.record(tmp_path / "model.tflite", **counts)


def test_the_profiled_worker_refuses_a_bad_flag_in_one_line(tflite_runtime_python):
    """The worker runs in other environments too (`python=`): tflite-runtime's, whose Keras has no backend."""
    done = subprocess.run(
        [
            tflite_runtime_python,
            "-m",
            "swiftformer_keras.lite.kernel_profile",
            "--worker",
            "m.tflite",
            "--threads",
            "0",
            "--runs",
            "1",
            "--warmup",
            "0",
            "--control",
            "fifo",
            "ack",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        (
            "python -m swiftformer_keras.lite.kernel_profile: error: argument --threads: "
            "must be a whole number >= 1, got '0'; see --help"
        )
    ]
