"""The predictor: any .tflite classifier run on normalised batches, its integer tensors (de)quantized."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import tiny_model
from swiftformer_keras.lite.calibration import random_images
from swiftformer_keras.lite.converter import export_tflite
from swiftformer_keras.lite.predictor import TFLitePredictor, tflite_runner


def test_runner_checks_shapes_and_handles_empty_batches(tmp_path):
    path = export_tflite(tiny_model("l2"), str(tmp_path / "tiny.tflite"))
    predict = tflite_runner(path, num_threads=1)
    assert predict(np.zeros((0, 64, 64, 3), "float32")).shape == (0, 10)
    with pytest.raises(ValueError, match=r"\(batch, 64, 64, 3\)"):
        predict(np.zeros((1, 96, 96, 3), "float32"))
    with pytest.raises(ValueError, match="does not exist"):
        tflite_runner(tmp_path / "nope.tflite")
    (tmp_path / "junk.tflite").write_bytes(b"not a flatbuffer")
    with pytest.raises(ValueError, match="not a loadable .tflite model"):
        tflite_runner(tmp_path / "junk.tflite")
    images = random_images(3, (64, 64), seed=5)
    # Image-by-image batching changes nothing: the same rows as three single calls.
    np.testing.assert_array_equal(predict(images), np.concatenate([predict(x[None]) for x in images]))


def _small_cnn():
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(5)(x))
    return _randomize_plain(model)


def _randomize_plain(model, seed=3):
    """Weights of order one everywhere, so the quantized outputs span many steps."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        variable.assign(rng.normal(0.0, 0.5, tuple(variable.shape)).astype("float32"))
    return model


def _quantized(model, calibration, io_type):
    """Full-integer post-training quantization, with `io_type` input and output tensors."""
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([x[None]] for x in calibration)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = io_type
    return converter.convert()


@pytest.mark.filterwarnings("ignore:Statistics for quantized inputs")
@pytest.mark.parametrize("io_type", [tf.int8, tf.uint8])
def test_runner_quantizes_integer_inputs_and_outputs(tmp_path, io_type):
    model = _small_cnn()
    calibration = random_images(16, (32, 32), seed=7)
    (tmp_path / "int.tflite").write_bytes(_quantized(model, calibration, io_type))
    # The same calibration with float I/O: the runtime's own QUANTIZE/DEQUANTIZE ops
    # are the independent reference for the runner's arithmetic.
    (tmp_path / "float_io.tflite").write_bytes(_quantized(model, calibration, tf.float32))
    integer, float_io = tflite_runner(tmp_path / "int.tflite"), tflite_runner(tmp_path / "float_io.tflite")
    assert integer.input["dtype"] == integer.output["dtype"] == io_type.as_numpy_dtype
    assert float_io.input["dtype"] == np.float32

    images = random_images(6, (32, 32), seed=8)
    got, reference = integer(images), float_io(images)
    output_scale = integer.output["quantization"][0]
    assert got.dtype == np.float32
    assert np.abs(got - reference).max() <= output_scale + 1e-6
    expected = keras.ops.convert_to_numpy(model(images))
    error = np.abs(got - expected).max() / np.abs(expected).max()
    print(
        f"{io_type.name}: max|runner - float-I/O| {np.abs(got - reference).max():.2e}, "
        f"relative error vs keras fp32 {error:.3f}"
    )
    assert error < 0.1


def test_an_integer_io_file_that_takes_pixels_is_fed_pixels(npu_files, cifar_tflite):
    """`--io uint8` of a file whose first convolution is int8 takes uint8 pixels (scale 1): fed the
    normalised image quantized instead, it would answer noise. Its scores equal the float-I/O file's
    (the same int8 graph, the same calibration), image by image."""
    source, _ = npu_files["uint8"]
    integer, floating = TFLitePredictor(source), TFLitePredictor(cifar_tflite["int8"][0])
    assert integer.input_type == "quantized_pixels" and integer.input["dtype"] == np.uint8
    images = np.random.default_rng(2).normal(size=(16, *integer.image_shape)).astype(np.float32)
    pixels = integer.file_inputs(images)
    assert pixels.dtype == np.uint8 and pixels.min() < 30 and pixels.max() > 225  # the pixels themselves
    assert np.mean(integer(images).argmax(1) == floating(images).argmax(1)) >= 0.9
