"""lite/htp_emulator.py: compiled files on Qualcomm's HTP emulator against LiteRT's CPU interpreter."""

import numpy as np
import pytest

from swiftformer_keras.lite.htp_emulator import HtpEmulator, context_binary
from swiftformer_keras.lite.predictor import TFLitePredictor
from swiftformer_keras.lite.report import fidelity


def _photos(predictor, count=24):
    rng = np.random.default_rng(3)
    return rng.normal(size=(count, *predictor.image_shape)).astype(np.float32)


@pytest.mark.parametrize("kind", ["int8", "uint8"])
def test_the_npu_computes_what_the_cpu_interpreter_computes(npu_files, kind):
    source, compiled = npu_files[kind]
    predictor = TFLitePredictor(source)
    images = _photos(predictor)
    cpu = predictor(images)
    for target, path in compiled.items():
        emulator = HtpEmulator(path)
        assert emulator.input["dtype"] == predictor.input["dtype"]
        npu_scores = emulator(predictor.file_inputs(images))
        assert npu_scores.shape == cpu.shape and npu_scores.dtype == np.float32
        close = fidelity(cpu, npu_scores)
        # Same integer graph, other kernels (HTP rounds its requantizations its own way): near, not equal.
        assert close["top1_agreement"] >= 0.9, (target, close)
        assert close["sqnr_db"] > 15, (target, close)


def test_an_uncompiled_file_is_refused(cifar_tflite):
    with open(cifar_tflite["int8"][0], "rb") as file:
        content = file.read()
    with pytest.raises(ValueError, match="not one NPU partition"):
        context_binary(content)


def test_inputs_of_another_type_are_refused(npu_files):
    _, compiled = npu_files["uint8"]
    emulator = HtpEmulator(next(iter(compiled.values())))
    with pytest.raises(ValueError, match=r"takes N x \[64, 64, 3\] uint8 inputs, got float32"):
        emulator(np.zeros((1, 64, 64, 3), np.float32))


def test_a_binary_cut_short_is_refused_before_it_reaches_the_emulator(npu_files, tmp_path):
    _, compiled = npu_files["int8"]
    with open(next(iter(compiled.values())), "rb") as file:
        content = file.read()
    with pytest.raises(ValueError, match="lies outside the file"):
        context_binary(content[: len(content) // 2])
