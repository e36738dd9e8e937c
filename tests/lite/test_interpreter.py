"""The one interpreter factory, partition count, interleaved timer and CPU name."""

import importlib.metadata
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

from conftest import ROOT
from swiftformer_keras.lite import interpreter as lib
from swiftformer_keras.lite.converter import export_tflite, tflite_ops
from swiftformer_keras.models.random_init import randomize_weights


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
    np.testing.assert_allclose(
        _run(lib.make_interpreter(model_path=small_tflite, xnnpack=False), image), expected, rtol=1e-5, atol=1e-5
    )
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
    assert lib._runtime() == ("tensorflow", tf.lite.Interpreter, tf.lite.experimental.OpResolverType, tf.__version__)
    assert lib.runtime_version() == ("tensorflow", tf.__version__)
    np.testing.assert_allclose(_run(lib.make_interpreter(model_path=small_tflite), image), expected, atol=1e-5)
    monkeypatch.setitem(sys.modules, "tensorflow", None)
    lib._runtime.cache_clear()
    with pytest.raises(ImportError, match="pip install ai-edge-litert"):
        lib.make_interpreter(model_path=small_tflite)


# --- an explicit runtime ---------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated")
def test_litert_and_tensorflow_asked_for_by_name_give_identical_outputs(small_tflite):
    import tensorflow as tf

    image = np.random.default_rng(1).normal(size=(1, 32, 32, 3)).astype(np.float32)
    litert = lib.make_interpreter(model_path=small_tflite, runtime="litert")
    tensorflow = lib.make_interpreter(model_path=small_tflite, runtime="tensorflow")
    assert isinstance(litert, Interpreter) and isinstance(tensorflow, tf.lite.Interpreter)
    assert not isinstance(tensorflow, Interpreter)
    outputs = {name: _run(interpreter, image) for name, interpreter in (("litert", litert), ("tensorflow", tensorflow))}
    assert outputs["litert"].shape == (1, 4) and np.abs(outputs["litert"]).max() > 0
    # Both apply XNNPACK by default, one partition: the same numbers (bit for bit on the machine
    # this was written on; two builds may pick other microkernels, so to float rounding).
    np.testing.assert_allclose(outputs["tensorflow"], outputs["litert"], rtol=0, atol=1e-6)
    assert lib.count_partitions(litert) == lib.count_partitions(tensorflow) == (1, 3)
    # Without the delegate both run their builtin kernels (here 1 ulp apart on one logit).
    np.testing.assert_allclose(
        _run(lib.make_interpreter(model_path=small_tflite, xnnpack=False, runtime="tensorflow"), image),
        _run(lib.make_interpreter(model_path=small_tflite, xnnpack=False, runtime="litert"), image),
        rtol=0,
        atol=1e-6,
    )
    # The automatic choice here (.venv) is LiteRT's Interpreter, first in order; its CompiledModel is last.
    assert lib.RUNTIMES == ("litert", "tflite-runtime", "tensorflow", "litert-compiled")
    litert = ("litert", importlib.metadata.version("ai-edge-litert"))
    assert lib.runtime_version() == lib.runtime_version("litert") == litert
    assert lib.runtime_version("tensorflow") == ("tensorflow", tf.__version__)


def test_an_unknown_runtime_is_a_value_error_naming_it_and_the_choices(small_tflite):
    for call in (
        lambda: lib.make_interpreter(model_path=small_tflite, runtime="nosuch"),
        lambda: lib.runtime_version("nosuch"),
        lambda: lib.check_runtime("nosuch"),
    ):
        message = r"Unknown TFLite runtime 'nosuch'; choose one of litert, tflite-runtime, tensorflow, litert-compiled"
        with pytest.raises(ValueError, match=message):
            call()
    assert [lib.check_runtime(name) for name in (None, *lib.RUNTIMES)] == [None, *lib.RUNTIMES]


# --- litert-compiled: LiteRT's CompiledModel behind the Interpreter's methods -----------------------------


def _inputs(detail, count):
    """`count` inputs of the file's input tensor (each with its batch of 1): noise over its dtype's range."""
    rng, shape = np.random.default_rng(3), (count, *detail["shape"])
    if np.issubdtype(detail["dtype"], np.integer):
        info = np.iinfo(detail["dtype"])
        return rng.integers(info.min, info.max, shape, dtype=detail["dtype"], endpoint=True)
    return rng.normal(size=shape).astype(detail["dtype"])


def _same_as_the_interpreter(path, **kwargs):
    """`(interpreter, compiled)` over `path`, LiteRT's Interpreter and litert-compiled, having checked that
    they describe the file's tensors alike (dtype, shape, quantization) and compute the same bits."""
    interpreter = lib.make_interpreter(model_path=path, runtime="litert", **kwargs)
    compiled = lib.make_interpreter(model_path=path, runtime="litert-compiled", **kwargs)
    assert compiled.get_signature_list() == interpreter.get_signature_list()
    for ours, theirs in (
        (compiled.get_input_details(), interpreter.get_input_details()),
        (compiled.get_output_details(), interpreter.get_output_details()),
    ):
        assert [(d["index"], np.dtype(d["dtype"]), list(d["shape"]), d["quantization"]) for d in ours] == [
            (d["index"], np.dtype(d["dtype"]), list(d["shape"]), d["quantization"]) for d in theirs
        ]
    for image in _inputs(compiled.get_input_details()[0], 2):
        np.testing.assert_array_equal(_run(compiled, image), _run(interpreter, image))
    return interpreter, compiled


@pytest.mark.parametrize("mode", ["fp32", "int8"])
def test_litert_compiled_gives_the_interpreter_s_outputs_bit_for_bit(cifar_tflite, mode):
    from swiftformer_keras.lite.predictor import tflite_runner

    path = cifar_tflite[mode][0]  # TINY as to_tflite writes it
    interpreter, compiled = _same_as_the_interpreter(path)  # the same XNNPACK on the same file: the same bits
    assert isinstance(compiled, lib.CompiledModelInterpreter)
    assert lib.runtime_version("litert-compiled") == ("litert-compiled", importlib.metadata.version("ai-edge-litert"))
    # The signature it runs is the file's only one.
    assert compiled.get_signature_list() == {"serving_default": {"inputs": ["image"], "outputs": ["probabilities"]}}
    image = _inputs(compiled.get_input_details()[0], 1)[0]
    with open(path, "rb") as file:
        from_bytes = lib.make_interpreter(model_content=file.read(), num_threads=1, runtime="litert-compiled")
    np.testing.assert_array_equal(_run(from_bytes, image), _run(interpreter, image))
    # Without XNNPACK, its builtin kernels (one thread) are the Interpreter's, bit for bit too.
    _same_as_the_interpreter(path, num_threads=1, xnnpack=False)
    # The predictor (evaluate.py --runtime, the benchmark's checks) gives the same scores through it.
    images = np.random.default_rng(4).normal(size=(3, 64, 64, 3)).astype(np.float32)
    np.testing.assert_array_equal(
        tflite_runner(path, runtime="litert-compiled")(images), tflite_runner(path, runtime="litert")(images)
    )
    # It lists no nodes: partitions unknown, not guessed; its model nodes are the file's ops.
    partitions, model_nodes = lib.count_partitions(interpreter)
    assert partitions == 1 and lib.count_partitions(compiled) == (None, model_nodes)
    with pytest.raises(ValueError, match="CompiledModel .* lists no nodes"):
        lib.nodes(compiled)


@pytest.mark.parametrize("io", ["int8", "uint8"])
def test_litert_compiled_takes_and_gives_integer_tensors_as_the_file_has_them(tmp_path, io):
    import keras

    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(8, 3, activation="relu")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(4)(keras.layers.GlobalAveragePooling2D()(x)))
    calibration = np.random.default_rng(6).normal(size=(8, 32, 32, 3)).astype(np.float32)
    path = export_tflite(model, tmp_path / f"{io}.tflite", mode="int8", calibration=calibration, io=io)
    _, compiled = _same_as_the_interpreter(path)
    for detail in (*compiled.get_input_details(), *compiled.get_output_details()):
        assert np.dtype(detail["dtype"]) == np.dtype(io) and detail["quantization"][0] > 0


def test_litert_compiled_resizes_and_refuses_what_it_cannot_do_in_one_line(small_tflite):
    interpreter = lib.make_interpreter(model_path=small_tflite, allocate=False, runtime="litert")
    compiled = lib.make_interpreter(model_path=small_tflite, allocate=False, runtime="litert-compiled")
    with pytest.raises(RuntimeError, match="allocate_tensors"):
        compiled.invoke()
    for each in (interpreter, compiled):  # a batch of 2 on a file made for 1, as the Interpreter allows
        each.resize_tensor_input(each.get_input_details()[0]["index"], (2, 32, 32, 3))
        each.allocate_tensors()
    assert list(compiled.get_output_details()[0]["shape"]) == [2, 4]
    images = np.random.default_rng(5).normal(size=(2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_array_equal(_run(compiled, images), _run(interpreter, images))
    with pytest.raises(ValueError, match=r"Cannot set tensor 0: got float64 \[2, 32, 32, 3\], expected float32"):
        compiled.set_tensor(0, images.astype(np.float64))
    refusals = (
        (
            dict(xnnpack=False, num_threads=2),
            "runs its builtin kernels (xnnpack=False) on one thread, not num_threads=2",
        ),
        (dict(preserve_all_tensors=True), "cannot keep intermediate tensors"),
    )
    for kwargs, message in refusals:
        with pytest.raises(ValueError) as error:
            lib.make_interpreter(model_path=small_tflite, runtime="litert-compiled", **kwargs)
        assert message in str(error.value) and "\n" not in str(error.value)


def test_tflite_runtime_is_not_in_this_python_and_asking_for_it_says_how_to_get_it(small_tflite):
    # .venv has LiteRT and TensorFlow; tflite-runtime lives in .venv-tflite-runtime (test below).
    assert importlib.util.find_spec("tflite_runtime") is None, "this test needs a .venv without tflite-runtime"
    expected = (
        f"tflite-runtime is not installed in this Python ({sys.executable}): "
        "run `make .venv-tflite-runtime/.installed` "
        "and use .venv-tflite-runtime/bin/python, or pip install 'swiftformer-keras[tflite-runtime]' (Python <= 3.11)"
    )
    for call in (
        lambda: lib.make_interpreter(model_path=small_tflite, runtime="tflite-runtime"),
        lambda: lib.runtime_version("tflite-runtime"),
    ):
        with pytest.raises(ImportError) as error:
            call()
        assert str(error.value) == expected


def test_a_runtime_that_is_installed_but_broken_is_not_called_missing(tmp_path, monkeypatch, fresh_runtime):
    # A real package that fails as tflite-runtime 2.14 does under numpy 2 (built against numpy 1.x).
    package = tmp_path / "tflite_runtime"
    package.mkdir()
    (package / "__init__.py").write_text("__version__ = '2.14.0'\n")
    (package / "interpreter.py").write_text("raise ImportError('numpy.core.multiarray failed to import')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        with pytest.raises(
            ImportError,
            match=r"tflite-runtime is installed in this Python .* but cannot be imported "
            r"\(numpy.core.multiarray failed to import\); reinstall it: run `make",
        ):
            lib.runtime_version("tflite-runtime")
    finally:
        for name in ("tflite_runtime", "tflite_runtime.interpreter"):
            sys.modules.pop(name, None)


# The child: this repository's interpreter module under .venv-tflite-runtime's Python.
_CHILD = """
import json, sys
import numpy as np
from swiftformer_keras.lite.interpreter import make_interpreter, runtime_version

path, image_path, out = sys.argv[1:4]
image = np.load(image_path)
outputs = {}
for xnnpack in (True, False):
    interpreter = make_interpreter(model_path=path, runtime="tflite-runtime", xnnpack=xnnpack)
    detail = interpreter.get_input_details()[0]
    interpreter.set_tensor(detail["index"], image)
    interpreter.invoke()
    outputs[str(xnnpack)] = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
np.savez(out, **outputs)
print(json.dumps({"asked": runtime_version("tflite-runtime"), "automatic": runtime_version(),
                  "class": type(interpreter).__module__, "numpy": np.__version__}))
"""


def _in_env(python, *args, **kwargs):
    env = {**os.environ, "PYTHONPATH": ROOT}  # this tree's code, wherever the env was installed from
    return subprocess.run([python, *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300, **kwargs)


def test_tflite_runtime_2_14_in_its_env_gives_litert_s_outputs(small_tflite, tflite_runtime_python, tmp_path):
    image = np.random.default_rng(2).normal(size=(1, 32, 32, 3)).astype(np.float32)
    np.save(tmp_path / "image.npy", image)
    done = _in_env(
        tflite_runtime_python, "-c", _CHILD, str(small_tflite), str(tmp_path / "image.npy"), str(tmp_path / "out.npz")
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["asked"] == report["automatic"] == ["tflite-runtime", "2.14.0"]
    assert report["class"] == "tflite_runtime.interpreter" and report["numpy"].startswith("1.")
    theirs = np.load(tmp_path / "out.npz")
    ours = _run(lib.make_interpreter(model_path=small_tflite, runtime="litert"), image)
    assert np.abs(ours).max() > 0
    np.testing.assert_allclose(theirs["True"], ours, rtol=0, atol=1e-5)
    np.testing.assert_allclose(theirs["False"], ours, rtol=0, atol=1e-5)


def test_without_a_keras_backend_the_package_imports_and_the_model_api_says_what_to_install(tflite_runtime_python):
    # .venv-tflite-runtime has keras (pulled by the package) but no backend: `import keras` fails there.
    code = (
        "import swiftformer_keras as sfk, swiftformer_keras.utils.cli, swiftformer_keras.utils.files\n"
        "import swiftformer_keras.lite.interpreter\n"
        "print(sfk.preprocess_input.__name__, sfk.__version__)\n"
        "sfk.SwiftFormerS\n"
    )
    done = _in_env(tflite_runtime_python, "-c", code)
    assert done.stdout.split() == ["preprocess_input", "0.1.0"]
    last = done.stderr.strip().splitlines()[-1]
    assert done.returncode == 1
    assert last.startswith("ImportError: swiftformer_keras.SwiftFormerS needs Keras with a backend")
    assert last.endswith("install a Keras backend: pip install 'swiftformer-keras[tensorflow]' (or [jax], [torch])")
    done = _in_env(tflite_runtime_python, "-c", "from swiftformer_keras import VARIANTS; print(sorted(VARIANTS))")
    assert done.returncode == 0 and done.stdout.split() == ["['L1',", "'L3',", "'S',", "'XS']"]  # no Keras needed


def test_with_keras_the_model_api_is_there_and_its_layers_registered():
    import keras

    import swiftformer_keras as sfk

    assert callable(sfk.SwiftFormerS) and "XS" in sfk.VARIANTS
    assert keras.saving.get_registered_object("swiftformer_keras>Stem") is sfk.Stem
    with pytest.raises(AttributeError, match="has no attribute 'nosuch'"):
        _ = sfk.nosuch


def test_time_interleaved_takes_turns_and_counts_every_call():
    order = []
    candidates = {name: (lambda name=name: order.append(name)) for name in ("a", "b", "c")}
    times = lib.time_interleaved(candidates, runs=3, warmup=2, block=1, untimed=0)
    assert order == ["a", "a", "b", "b", "c", "c"] + ["a", "b", "c"] * 3
    assert {name: len(ms) for name, ms in times.items()} == {"a": 3, "b": 3, "c": 3}
    assert all(0 <= value < 100 for ms in times.values() for value in ms)  # milliseconds

    order.clear()
    times = lib.time_interleaved(candidates, runs=3, warmup=1, block=3, untimed=1)
    # Blocks of 3 calls, the first untimed: 2 timings per turn, so 2 turns for 3 runs.
    assert order == ["a", "b", "c"] + ["a"] * 3 + ["b"] * 3 + ["c"] * 3 + ["a"] * 3 + ["b"] * 3 + ["c"] * 3
    assert {name: len(ms) for name, ms in times.items()} == {"a": 3, "b": 3, "c": 3}
    assert lib.time_interleaved(candidates, runs=0) == {"a": [], "b": [], "c": []}

    # By default, turns of BLOCK calls whose first UNTIMED are not timed: one turn is enough here.
    order.clear()
    runs = lib.BLOCK - lib.UNTIMED
    times = lib.time_interleaved(candidates, runs=runs)
    assert order == ["a"] * lib.BLOCK + ["b"] * lib.BLOCK + ["c"] * lib.BLOCK and lib.UNTIMED > 0
    assert {name: len(ms) for name, ms in times.items()} == {"a": runs, "b": runs, "c": runs}
    for block, untimed in ((0, 0), (3, 3), (2, -1)):
        with pytest.raises(ValueError, match="block"):
            lib.time_interleaved(candidates, 1, block=block, untimed=untimed)


def test_the_timings_are_the_calls_durations():
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


@pytest.mark.parametrize(
    "text, name, counted, mhz",
    [
        (X86, "AMD EPYC 7B13", "AMD EPYC 7B13 x2", 3100.5),
        (ARM, "Qualcomm Technologies, Inc SM8550", "Qualcomm Technologies, Inc SM8550 x2", None),
    ],
)
def test_cpu_name_and_clock_from_cpuinfo(tmp_path, monkeypatch, text, name, counted, mhz):
    (tmp_path / "cpuinfo").write_text(text)
    monkeypatch.setattr(lib, "CPUINFO", str(tmp_path / "cpuinfo"))
    assert (lib.cpu_name(), lib.cpu_name(count=True), lib.cpu_mhz()) == (name, counted, mhz)


def test_without_cpuinfo_the_platform_names_the_cpu(tmp_path, monkeypatch):
    monkeypatch.setattr(lib, "CPUINFO", str(tmp_path / "missing"))
    assert lib.cpu_name() == lib.cpu_name(count=True) == (platform.processor() or platform.machine())
    assert lib.cpu_mhz() is None
