"""Running a `.tflite` image classifier on batches, whatever its input and output types.

    predict = tflite_runner("swiftformer_xs.tflite")   # predict(images_nhwc) -> scores
    predict(preprocess_input(photos))                  # (batch, classes), float32

Called with images normalised as for the Keras model, it gives every file the
input it takes (pixels, camera bytes, the normalised image, quantized or not)
and returns float scores, so that float and quantized files, and files of any
input type, are compared alike. It needs no Keras: it runs where only a TFLite
runtime is installed (tflite-runtime 2.14's environment).
"""

import os

import numpy as np

from swiftformer_keras.lite import metadata
from swiftformer_keras.lite.interpreter import check_runtime, make_interpreter
from swiftformer_keras.utils.images import pixels_from_input


def _quantize(values, detail):
    """float32 -> the input tensor's dtype, through its scale and zero point if integer."""
    dtype = detail["dtype"]
    if not np.issubdtype(dtype, np.integer):
        return values.astype(dtype)
    scale, zero_point = detail["quantization"]
    info = np.iinfo(dtype)
    if scale == 0:  # not quantized: the values themselves (uint8 pixels)
        return np.clip(np.round(values), info.min, info.max).astype(dtype)
    return np.clip(np.round(values / scale + zero_point), info.min, info.max).astype(dtype)


def _dequantize(values, detail):
    if not np.issubdtype(values.dtype, np.integer):
        return values.astype(np.float32)
    scale, zero_point = detail["quantization"]
    return ((values.astype(np.float32) - zero_point) * scale).astype(np.float32)


class TFLitePredictor:
    """Runs a `.tflite` image classifier on NHWC float32 batches, one image at a time.

    It is called with images normalised as for the Keras model
    (`utils.images.preprocess_input`) whatever the file takes: a file that
    takes pixels (`metadata.input_type_of`) gets them back through
    `utils.images.pixels_from_input`, so every file is compared alike.

    Attributes:
        image_size: `(height, width)` of the model's input.
        num_classes: the length of its output vector.
        input_type: what the file itself takes (`INPUT_TYPES`).
    """

    def __init__(self, path, num_threads=2, runtime=None):
        path = os.fspath(path)
        check_runtime(runtime)  # an unknown name is not a file problem
        if not os.path.isfile(path):
            raise ValueError(f"TFLite model {path!r} does not exist.")
        try:
            self.interpreter = make_interpreter(
                model_path=path, num_threads=num_threads, allocate=False, runtime=runtime
            )
        except (ValueError, RuntimeError) as error:
            raise ValueError(f"{path!r} is not a loadable .tflite model ({error}).") from error
        inputs, outputs = self.interpreter.get_input_details(), self.interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1 or len(inputs[0]["shape"]) != 4:
            raise ValueError(
                f"{path!r} has {len(inputs)} inputs and {len(outputs)} outputs; expected one NHWC "
                "image input and one output."
            )
        shape = tuple(int(v) for v in inputs[0]["shape"])
        if shape[0] != 1:  # a file exported with another batch size: run it image by image too
            self.interpreter.resize_tensor_input(inputs[0]["index"], (1, *shape[1:]))
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self.path = path
        self.input_type = metadata.input_type_of(self.input, metadata.read_metadata(path))
        self.image_shape = shape[1:]
        self.image_size = shape[1:3]
        self.num_classes = int(self.output["shape"][-1])

    def file_inputs(self, images):
        """What the file's input tensor takes for `images` (normalised as for the Keras model):
        `(batch, H, W, 3)` pixels or the normalised image, quantized if the input is integer."""
        images = np.asarray(images, np.float32)
        if images.ndim != 4 or images.shape[1:] != self.image_shape:
            raise ValueError(
                f"{self.path!r} takes images of shape (batch, {', '.join(map(str, self.image_shape))}), "
                f"got {images.shape}; resize them or export the model at that size."
            )
        if self.input_type in metadata.PIXEL_INPUT_TYPES:  # "quantized" is the normalised input, quantized
            images = pixels_from_input(images, rounded=self.input_type != "float32")
        return _quantize(images, self.input)

    def __call__(self, images):
        rows = []
        for item in self.file_inputs(images):
            self.interpreter.set_tensor(self.input["index"], item[None])
            self.interpreter.invoke()
            rows.append(_dequantize(self.interpreter.get_tensor(self.output["index"]), self.output))
        if not rows:
            return np.zeros((0, *self.output["shape"][1:]), np.float32)
        return np.concatenate(rows)


def tflite_runner(path, num_threads=2, runtime=None):
    """Loads a `.tflite` model with the TFLite interpreter of `runtime`
    (`interpreter.RUNTIMES`; None: the first installed, LiteRT's first).

    Returns:
        `predict(images)`: float32 NHWC batch -> float32 outputs `(batch, ...)`.
        Integer (int8/uint8) input and output tensors are quantized and
        dequantized with their scale and zero point, so float and quantized
        files are called the same way. `predict.image_size` is the input's
        `(height, width)`, `predict.num_classes` the output length.
    """
    return TFLitePredictor(path, num_threads=num_threads, runtime=runtime)
