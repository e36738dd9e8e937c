"""The one interpreter factory, partition count, interleaved timer and CPU name."""

import sys

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

from swiftformer_keras import interpreter as lib
from swiftformer_keras.export import export_tflite, tflite_ops
from swiftformer_keras.testing import randomize_weights


@pytest.fixture
def fresh_runtime():
    """The runtime choice is cached; a test that hides runtimes sees (and leaves) a fresh one."""
    lib._runtime.cache_clear()
    yield
    lib._runtime.cache_clear()


def _run(interpreter, image):
    detail = interpreter.get_input_details()[0]
    interpreter.set_tensor(detail["index"], image)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def test_the_factory_gives_the_runtimes_own_outputs(small_tflite):
    image = np.random.default_rng(0).normal(size=(1, 32, 32, 3)).astype(np.float32)
    direct = Interpreter(model_path=small_tflite, num_threads=2)
    direct.allocate_tensors()
    expected = _run(direct, image)
    with open(small_tflite, "rb") as file:
        content = file.read()
    np.testing.assert_array_equal(_run(lib.make_interpreter(model_path=small_tflite), image), expected)
    np.testing.assert_array_equal(_run(lib.make_interpreter(model_content=content, num_threads=1), image), expected)
    # The reference kernels differ from XNNPACK's only in rounding.
    np.testing.assert_allclose(_run(lib.make_interpreter(model_path=small_tflite, xnnpack=False), image), expected,
                               rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="exactly one"):
        lib.make_interpreter(model_path=small_tflite, model_content=content)


def test_a_real_fp32_xs_file_is_one_xnnpack_partition(tmp_path):
    import swiftformer_keras as sfk

    model = randomize_weights(sfk.SwiftFormerXS(classifier_activation=None, input_shape=(64, 64, 3)))
    path = export_tflite(model, tmp_path / "xs.tflite")
    ops = sum(tflite_ops(path).values())
    assert lib.count_partitions(lib.make_interpreter(model_path=path)) == (1, ops)
    assert lib.count_partitions(lib.make_interpreter(model_path=path, xnnpack=False)) == (0, ops)
    assert lib.nodes(lib.make_interpreter(model_path=path))[-1]["op_name"] == "DELEGATE"


@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated")
def test_runtimes_are_tried_in_order_and_a_missing_one_is_a_clear_error(small_tflite, monkeypatch, fresh_runtime):
    import tensorflow as tf

    image = np.zeros((1, 32, 32, 3), np.float32)
    expected = _run(lib.make_interpreter(model_path=small_tflite), image)
    # None in sys.modules makes the import fail, as if the package were not installed.
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    monkeypatch.setitem(sys.modules, "tflite_runtime.interpreter", None)
    lib._runtime.cache_clear()
    assert lib._runtime() == (tf.lite.Interpreter, tf.lite.experimental.OpResolverType)
    np.testing.assert_allclose(_run(lib.make_interpreter(model_path=small_tflite), image), expected, atol=1e-5)
    monkeypatch.setitem(sys.modules, "tensorflow", None)
    lib._runtime.cache_clear()
    with pytest.raises(ImportError, match="pip install ai-edge-litert"):
        lib.make_interpreter(model_path=small_tflite)


def test_time_interleaved_takes_turns_and_counts_every_call():
    order = []
    candidates = {name: (lambda name=name: order.append(name)) for name in ("a", "b", "c")}
    times = lib.time_interleaved(candidates, runs=3, warmup=2)
    assert order == ["a", "a", "b", "b", "c", "c"] + ["a", "b", "c"] * 3
    assert {name: len(ms) for name, ms in times.items()} == {"a": 3, "b": 3, "c": 3}
    assert all(0 <= value < 100 for ms in times.values() for value in ms)  # milliseconds

    order.clear()
    times = lib.time_interleaved(candidates, runs=3, warmup=1, block=3, untimed=1)
    # Blocks of 3 calls, the first untimed: 2 timings per turn, so 2 turns for 3 runs.
    assert order == ["a", "b", "c"] + ["a"] * 3 + ["b"] * 3 + ["c"] * 3 + ["a"] * 3 + ["b"] * 3 + ["c"] * 3
    assert {name: len(ms) for name, ms in times.items()} == {"a": 3, "b": 3, "c": 3}
    assert lib.time_interleaved(candidates, runs=0) == {"a": [], "b": [], "c": []}
    for block, untimed in ((0, 0), (3, 3), (2, -1)):
        with pytest.raises(ValueError, match="block"):
            lib.time_interleaved(candidates, 1, block=block, untimed=untimed)


def test_the_timings_are_the_calls_durations():
    import time

    times = lib.time_interleaved({"sleep": lambda: time.sleep(0.01), "none": lambda: None}, runs=3)
    assert all(10 <= ms < 200 for ms in times["sleep"]) and all(ms < 5 for ms in times["none"])


X86 = """processor\t: 0
model name\t: AMD EPYC 7B13
cpu MHz\t\t: 2450.000

processor\t: 1
model name\t: AMD EPYC 7B13
cpu MHz\t\t: 3100.5
"""
ARM = """processor\t: 0
BogoMIPS\t: 38.40

processor\t: 1
BogoMIPS\t: 38.40

Hardware\t: Qualcomm Technologies, Inc SM8550
"""


@pytest.mark.parametrize("text, name, counted, mhz", [
    (X86, "AMD EPYC 7B13", "AMD EPYC 7B13 x2", 3100.5),
    (ARM, "Qualcomm Technologies, Inc SM8550", "Qualcomm Technologies, Inc SM8550 x2", None),
])
def test_cpu_name_and_clock_from_cpuinfo(tmp_path, monkeypatch, text, name, counted, mhz):
    (tmp_path / "cpuinfo").write_text(text)
    monkeypatch.setattr(lib, "CPUINFO", str(tmp_path / "cpuinfo"))
    assert (lib.cpu_name(), lib.cpu_name(count=True), lib.cpu_mhz()) == (name, counted, mhz)


def test_without_cpuinfo_the_platform_names_the_cpu(tmp_path, monkeypatch):
    import platform

    monkeypatch.setattr(lib, "CPUINFO", str(tmp_path / "missing"))
    assert lib.cpu_name() == lib.cpu_name(count=True) == (platform.processor() or platform.machine())
    assert lib.cpu_mhz() is None
