"""runtime_versions: the runtime a .tflite file needs, checked on files the converter writes.

The reference for `min_runtime(...)["version"]` is the converter's own
`min_runtime_version` metadata, computed in C++ from its copy of the same table.
"""

import os
import subprocess
import sys

import flatbuffers
import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert import schema_py_generated as schema
from tensorflow.lite.python import schema_py_generated as tf_schema

from conftest import ROOT
from swiftformer_keras.lite import runtime_versions
from swiftformer_keras.lite.interpreter import make_interpreter, nodes
from swiftformer_keras.lite.runtime_versions import (
    SUPPORTED_MIN_RUNTIMES,
    check_min_runtime,
    check_runtime_choice,
    min_runtime,
    op_versions,
    parse_version,
)

TFLITE_RUNTIME_PYTHON = os.path.join(ROOT, ".venv-tflite-runtime", "bin", "python")


def _convert(function, spec, dynamic=False, per_channel_dense=True):
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function.get_concrete_function(spec)], function)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if dynamic:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if not per_channel_dense:
        converter._experimental_disable_per_channel_quantization_for_dense_layers = True
    return converter.convert()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """`{name: path}`: an fp32 conv model, and a dynamic-range dense model with per-channel
    weights (FULLY_CONNECTED v12) and with per-tensor weights (an older version)."""
    rng = np.random.default_rng(0)
    kernel = tf.constant(rng.normal(size=(3, 3, 3, 8)).astype(np.float32))
    weights = tf.constant(rng.normal(size=(64, 32)).astype(np.float32))
    bias = tf.constant(rng.normal(size=(32,)).astype(np.float32))

    @tf.function
    def conv(x):
        y = tf.nn.relu(tf.nn.conv2d(x, kernel, 1, "SAME"))
        return tf.nn.softmax(tf.reduce_mean(y, axis=(1, 2)))

    @tf.function
    def dense(x):
        return tf.matmul(x, weights) + bias

    image, vector = tf.TensorSpec((1, 8, 8, 3), tf.float32), tf.TensorSpec((1, 64), tf.float32)
    contents = {
        "fp32_conv": _convert(conv, image),
        "dynamic_dense_per_channel": _convert(dense, vector, dynamic=True),
        "dynamic_dense_per_tensor": _convert(dense, vector, dynamic=True, per_channel_dense=False),
    }
    folder = tmp_path_factory.mktemp("runtime_versions")
    paths = {}
    for name, content in contents.items():
        paths[name] = str(folder / f"{name}.tflite")
        with open(paths[name], "wb") as file:
            file.write(content)
    return paths


def _stored(path):
    """`{(name, version)}` of the operators, read with TensorFlow's copy of the schema."""
    with open(path, "rb") as file:
        root = tf_schema.Model.GetRootAs(file.read(), 0)
    names = {value: name for name, value in vars(tf_schema.BuiltinOperator).items() if name.isupper()}
    found = set()
    for s in range(root.SubgraphsLength()):
        subgraph = root.Subgraphs(s)
        for o in range(subgraph.OperatorsLength()):
            code = root.OperatorCodes(subgraph.Operators(o).OpcodeIndex())
            found.add((names[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())], code.Version()))
    return found


def test_files_load_and_run_in_litert(files):
    for path in files.values():
        interpreter = make_interpreter(model_path=path, num_threads=1, xnnpack=False)
        detail = interpreter.get_input_details()[0]
        interpreter.set_tensor(detail["index"], np.ones(detail["shape"], np.float32))
        interpreter.invoke()
        output = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
        assert np.all(np.isfinite(output))
        # The runtime sees the ops the flatbuffer lists.
        assert {op["op_name"] for op in nodes(interpreter)} == {name for name, _ in op_versions(path)}


def test_op_versions_are_what_the_flatbuffer_stores(files):
    for path in files.values():
        found = op_versions(path)
        assert found == sorted(_stored(path))
        with open(path, "rb") as file:
            assert op_versions(file.read()) == found
    assert {name for name, _ in op_versions(files["fp32_conv"])} >= {"CONV_2D", "SOFTMAX"}
    assert ("FULLY_CONNECTED", 12) in op_versions(files["dynamic_dense_per_channel"])
    per_tensor = dict(op_versions(files["dynamic_dense_per_tensor"]))
    assert per_tensor["FULLY_CONNECTED"] < 12


def test_min_runtime_equals_the_converters_metadata(files):
    results = {name: min_runtime(path) for name, path in files.items()}
    for name, result in results.items():
        assert result["metadata"] is not None, name
        assert result["version"] == result["metadata"], name
        assert result["unknown"] == [], name
        runtimes = [parse_version(row["runtime"]) for row in result["needs"]]
        assert runtimes == sorted(runtimes, reverse=True)
        assert parse_version(result["version"]) == runtimes[0]
    per_channel = results["dynamic_dense_per_channel"]
    assert per_channel["version"] == "2.17.0"
    assert per_channel["needs"][0] == {"op": "FULLY_CONNECTED", "version": 12, "runtime": "2.17.0"}
    assert parse_version(results["dynamic_dense_per_tensor"]["version"]) < (2, 14, 0)


def test_check_min_runtime(files):
    with pytest.raises(ValueError) as raised:
        check_min_runtime(files["dynamic_dense_per_channel"], "2.14")
    message = str(raised.value)
    parts = ("FULLY_CONNECTED v12", "2.17.0", "2.14", "--min-runtime 2.17", "recipe that avoids FULLY_CONNECTED v12")
    for part in parts:
        assert part in message
    assert check_min_runtime(files["dynamic_dense_per_channel"], "2.17")["version"] == "2.17.0"
    for name in ("fp32_conv", "dynamic_dense_per_tensor"):
        assert check_min_runtime(files[name], "2.14") == min_runtime(files[name])
    with pytest.raises(ValueError, match="'two'"):
        check_min_runtime(files["fp32_conv"], "two")


@pytest.mark.skipif(not os.path.exists(TFLITE_RUNTIME_PYTHON), reason="no .venv-tflite-runtime (make test creates it)")
def test_tflite_runtime_2_14_loads_exactly_the_files_that_pass_the_2_14_check(files):
    script = (
        "import sys\nfrom tflite_runtime.interpreter import Interpreter\n"
        "try:\n    Interpreter(model_path=sys.argv[1]).allocate_tensors()\n"
        "except (RuntimeError, ValueError) as error:\n    print(error); sys.exit(3)\n"
    )
    for name, path in files.items():
        run = subprocess.run([TFLITE_RUNTIME_PYTHON, "-c", script, path], capture_output=True, text=True)
        try:
            check_min_runtime(path, "2.14")
            passes = True
        except ValueError:
            passes = False
        assert run.returncode in (0, 3), run.stderr
        assert (run.returncode == 0) == passes, (name, run.stdout, run.stderr)


def _rewritten(path, edit):
    """The file's bytes after `edit(model)` on its flatbuffer object tree."""
    with open(path, "rb") as file:
        model = schema.ModelT.InitFromPackedBuf(file.read(), 0)
    edit(model)
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def test_unknown_custom_and_deprecated_codes(files):
    path = files["dynamic_dense_per_channel"]
    fc = schema.BuiltinOperator.FULLY_CONNECTED

    def future_version(model):
        for code in model.operatorCodes:
            if max(code.builtinCode, code.deprecatedBuiltinCode) == fc:
                code.version = 99

    result = min_runtime(_rewritten(path, future_version))
    assert {"op": "FULLY_CONNECTED", "version": 99} in result["unknown"]
    assert all(row["op"] != "FULLY_CONNECTED" for row in result["needs"])

    def custom(model):
        for code in model.operatorCodes:
            code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.CUSTOM
            code.customCode, code.version = b"MyOp", 1
        model.metadata = []

    result = min_runtime(_rewritten(path, custom))
    assert op_versions(_rewritten(path, custom)) == [("MyOp", 1)]
    assert result == {"version": None, "needs": [], "unknown": [{"op": "MyOp", "version": 1}], "metadata": None}

    def deprecated_only(model):  # files from before BuiltinCode existed
        for code in model.operatorCodes:
            code.deprecatedBuiltinCode, code.builtinCode = code.builtinCode, 0

    assert op_versions(_rewritten(path, deprecated_only)) == op_versions(path)

    def newest_fc(model):  # FULLY_CONNECTED v14 needs 2.21.0, the newest choice
        for code in model.operatorCodes:
            if max(code.builtinCode, code.deprecatedBuiltinCode) == fc:
                code.version = 14

    with pytest.raises(ValueError, match="v14 needs 2.21.0.*--min-runtime 2.21 or a recipe"):
        check_min_runtime(_rewritten(path, newest_fc), "2.20")
    with open(path, "rb") as file:
        with pytest.raises(ValueError, match="The model needs TFLite runtime 2.17.0"):
            check_min_runtime(file.read(), "2.16")


def test_beyond_every_choice_says_no_min_runtime_covers_it(files, monkeypatch):
    table = {**runtime_versions._table(), "FULLY_CONNECTED": {12: "2.23.0"}}
    monkeypatch.setattr(runtime_versions, "_table", lambda: table)
    with pytest.raises(ValueError, match=r"no --min-runtime the project accepts \(up to 2.21\)"):
        check_min_runtime(files["dynamic_dense_per_channel"], "2.21")


def test_not_a_tflite_file():
    with pytest.raises(ValueError, match="Not a .tflite flatbuffer"):
        op_versions(b"definitely not a flatbuffer")
    with pytest.raises(ValueError, match="path or its bytes"):
        min_runtime(12)


def test_reading_files_needs_ai_edge_litert(files, monkeypatch):
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)
    with pytest.raises(ImportError, match="ai-edge-litert.*tflite-runtime ships no schema"):
        op_versions(files["fp32_conv"])
    assert check_runtime_choice("2.17") == "2.17"  # version strings need no schema


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2.14", (2, 14, 0)),
        ("2.14.0", (2, 14, 0)),
        ("2.14.4", (2, 14, 4)),
        ("3", (3, 0, 0)),
        ("1.5.0", (1, 5, 0)),
    ],
)
def test_parse_version(text, expected):
    assert parse_version(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "2.", ".14", "2.14.0.1", "2,14", " 2.14", "v2.14", None, 2.14])
def test_parse_version_rejects(text):
    with pytest.raises(ValueError) as raised:
        parse_version(text)
    assert repr(text) in str(raised.value)


def test_runtime_choices():
    assert check_runtime_choice("2.14") == "2.14"
    assert check_runtime_choice("2.14.0") == "2.14"
    assert [check_runtime_choice(choice) for choice in SUPPORTED_MIN_RUNTIMES] == list(SUPPORTED_MIN_RUNTIMES)
    for text in ("2.11", "3", "abc", "", "2.22", "2.14.1", "2", None):
        with pytest.raises(ValueError) as raised:
            check_runtime_choice(text)
        assert repr(text) in str(raised.value) and "2.12, 2.13" in str(raised.value) and "2.21" in str(raised.value)
