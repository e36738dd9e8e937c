"""The runtime worker: one TFLite runtime in its own process, asked in JSON lines."""

import sys

import numpy as np
import pytest

from conftest import ROOT
from swiftformer_keras.lite.interpreter import make_interpreter
from swiftformer_keras.lite.runtime_worker import RuntimeProcess, Worker, _sample


def _reference(path):
    interpreter = make_interpreter(model_path=path, num_threads=1, runtime="litert")
    detail = interpreter.get_input_details()[0]
    interpreter.set_tensor(detail["index"], _sample(detail))
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).ravel()


def test_a_worker_loads_times_and_predicts_and_names_a_refused_file(small_tflite, tmp_path):
    garbage = tmp_path / "garbage.tflite"
    garbage.write_bytes(b"\0" * 64)
    worker = Worker("litert", threads=1, warmup=1)
    loaded = worker.load({"small": str(small_tflite), "garbage": str(garbage)})
    assert loaded["runtime"] == "litert" and loaded["version"].startswith("2.")
    assert loaded["files"]["small"] == {"loaded": True, "partitions": 1, "error": None}
    assert loaded["files"]["garbage"]["loaded"] is False and loaded["files"]["garbage"]["error"]
    times = worker.time("small", 4)["ms"]
    assert len(times) == 4 and all(t > 0 for t in times)
    np.testing.assert_array_equal(worker.predict("small")["output"], _reference(small_tflite))
    # Counted invokes (their marks are a failing getpriority here, where nothing counts) give the same output.
    np.testing.assert_array_equal(worker.count("small", 2)["output"], _reference(small_tflite))
    with pytest.raises(ValueError, match="send load, time, predict or count"):
        worker.answer({"unload": "small"})


def test_a_worker_predicts_a_batch_from_a_numbers_only_file(small_tflite, tmp_path):
    worker = Worker("litert", threads=1, warmup=0)
    worker.load({"small": str(small_tflite)})
    detail = make_interpreter(model_path=str(small_tflite)).get_input_details()[0]
    batch = np.random.default_rng(3).normal(size=(3, *detail["shape"][1:])).astype(detail["dtype"])
    np.save(tmp_path / "batch.npy", batch)
    outputs = worker.predict("small", str(tmp_path / "batch.npy"))["outputs"]
    reference = make_interpreter(model_path=str(small_tflite), num_threads=1)
    for item, output in zip(batch, outputs, strict=True):
        reference.set_tensor(detail["index"], item[None])
        reference.invoke()
        np.testing.assert_array_equal(output, reference.get_tensor(reference.get_output_details()[0]["index"]).ravel())
    np.save(tmp_path / "wrong.npy", batch[:, :-1])
    with pytest.raises(ValueError, match=r"holds float32\[3, .*'small' takes N x"):
        worker.predict("small", str(tmp_path / "wrong.npy"))
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="allow_pickle=False"):  # a pickle is never loaded
        worker.predict("small", str(tmp_path / "objects.npy"))


def test_a_runtime_process_answers_in_json_lines_and_reports_errors(small_tflite):
    with RuntimeProcess(sys.executable, "litert", threads=1, cwd=ROOT) as worker:
        loaded = worker.ask({"load": {"small": str(small_tflite)}})
        assert loaded["files"]["small"]["loaded"]
        assert len(worker.ask({"time": "small", "runs": 3})["ms"]) == 3
        np.testing.assert_allclose(worker.ask({"predict": "small"})["output"], _reference(small_tflite), rtol=1e-6)
        with pytest.raises(RuntimeError, match="KeyError: 'missing'"):
            worker.ask({"time": "missing", "runs": 1})
        assert worker.ask({"predict": "small"})["output"]  # still up after a failed request


def test_an_unknown_runtime_in_the_worker_is_its_error(small_tflite):
    with (
        RuntimeProcess(sys.executable, "tflite-runtime", threads=1, cwd=ROOT) as worker,
        pytest.raises(RuntimeError, match="tflite-runtime is not installed"),
    ):
        worker.ask({"load": {"small": str(small_tflite)}})


def test_a_worker_that_stops_says_why(tflite_runtime_python):
    """A bad flag stops the worker at once, in each environment it runs in (tflite-runtime's Keras has
    no backend: the command-line module must import there), and the parent names the reason;
    threads=0 used to load every file as "does not load"."""
    for python in (sys.executable, tflite_runtime_python):
        with RuntimeProcess(python, threads=0, cwd=ROOT) as worker, pytest.raises(RuntimeError) as error:
            worker.ask({"load": {}})
        assert str(error.value) == (
            "The runtime worker stopped (exit code 2): python -m swiftformer_keras.lite.runtime_worker: error: "
            "argument --threads: must be a whole number >= 1, got '0'; see --help"
        ), python
