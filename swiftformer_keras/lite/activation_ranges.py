"""Activation ranges for full-integer quantization, measured with no tensor buffer shared.

    calibrated = converter.convert()                 # `_experimental_calibrate_only`: float ops + min/max
    calibrated = remeasure(calibrated, images)
    quantized = mlir_quantize(calibrated, ...)

TFLite's calibrator (the converter's `representative_dataset`) records each
activation's min and max while its interpreter runs the float model. That
interpreter computes some element-wise ops in place: a MUL or ADD whose
input has no other reader writes its output into the input's buffer. Such an
input is recorded with its reader's values, so its range becomes its
reader's. In SwiftFormer's attention the normalised key (`|k| <= 1`) is read
only by `global_query * key`, and the global query is a sum over all tokens:
the key was given a range of +-30 for values within +-0.55 (64x64; the
range grows with the token count), so its int8 steps were 0.2 and the
sum-pooled attention of the hub weights lost the logits (XS on seeded random
weights at 224x224: 0.7 dB SQNR, 19% top-1 agreement with Keras; docs/conversion.md
"int8 calibration").

`measure` runs the calibrated model again on the same images, on the
builtin kernels with every tensor kept (`experimental_preserve_all_tensors`,
under which nothing is computed in place), and `remeasure` writes those
ranges over the recorded ones, in place in the flatbuffer (same size, same
layout), so the MLIR quantizer sees each tensor's own range.

True ranges can be too fine for XNNPACK's int8 ADD, which needs each input's
step to be at least 1/1024 of the output's: a residual branch far smaller
than the stream it joins (a small layer scale) would leave the graph.
`remeasure` widens such an input to that limit; it was below a quarter of
an output step, so nothing it adds is lost.
"""

import numpy as np
from tqdm import tqdm

from swiftformer_keras.lite import runtime_versions
from swiftformer_keras.lite.interpreter import make_interpreter

# XNNPACK delegates an int8 ADD only if each input's scale is at least 1/1024 of the output's
# (`VisitAddNode` in LiteRT's xnnpack_delegate.cc); ranges are kept a little above that.
XNNPACK_ADD_MIN_SCALE_RATIO = 1 / 1000


def _graph(content):
    schema, model = runtime_versions.model_root(content)
    if model.SubgraphsLength() != 1:
        raise ValueError(f"Expected a model with one subgraph, got {model.SubgraphsLength()}.")
    return schema, model, model.Subgraphs(0)


def _recorded_tensors(content):
    """`{tensor index: (min view, max view)}` of the subgraph's float tensors that carry a
    per-tensor calibrated range; the views write into `content` (a bytearray)."""
    schema, _, graph = _graph(content)
    recorded = {}
    for index in range(graph.TensorsLength()):
        tensor = graph.Tensors(index)
        quantization = tensor.Quantization()
        if tensor.Type() != schema.TensorType.FLOAT32 or quantization is None:
            continue
        if quantization.MinLength() == 1 and quantization.MaxLength() == 1:
            recorded[index] = (quantization.MinAsNumpy(), quantization.MaxAsNumpy())
    return recorded


def _adds(content):
    """`(inputs, output)` of each ADD, last first."""
    schema, model, graph = _graph(content)
    adds = []
    for position in range(graph.OperatorsLength()):
        operator = graph.Operators(position)
        if runtime_versions.builtin_code(model.OperatorCodes(operator.OpcodeIndex())) == schema.BuiltinOperator.ADD:
            adds.append((list(operator.InputsAsNumpy()), int(operator.OutputsAsNumpy()[0])))
    return adds[::-1]


def _widened_for_xnnpack(ranges, adds):
    """`ranges` where an ADD input spans less than `XNNPACK_ADD_MIN_SCALE_RATIO` of the ADD's
    output, stretched to it. Its whole range is then under a quarter of one output step: it
    loses no more than it loses in the sum, and the ADD stays in XNNPACK's graph. Last ADD
    first, so that a stretched output is seen by the ADD that computes it."""
    ranges = dict(ranges)
    for inputs, output in adds:
        if output not in ranges:
            continue
        need = (max(ranges[output][1], 0.0) - min(ranges[output][0], 0.0)) * XNNPACK_ADD_MIN_SCALE_RATIO
        for index in inputs:
            if index not in ranges:
                continue
            low, high = min(ranges[index][0], 0.0), max(ranges[index][1], 0.0)
            if high - low >= need:
                continue
            factor = need / (high - low) if high > low else None
            ranges[index] = (low * factor, high * factor) if factor else (-need / 2, need / 2)
    return ranges


def measure(calibrated, images, progress=None):
    """`{tensor index: (min, max)}` over `images` (NHWC, each fed alone) of every
    tensor of the calibrated model `calibrated` (bytes) that carries a recorded range.

    `progress`: a label for a progress bar, or None for none.
    """
    indices = sorted(_recorded_tensors(bytearray(calibrated)))
    interpreter = make_interpreter(model_content=calibrated, xnnpack=False, preserve_all_tensors=True)
    image_input = interpreter.get_input_details()[0]
    low = {index: np.inf for index in indices}
    high = {index: -np.inf for index in indices}
    for image in tqdm(images, desc=progress, unit="image", disable=progress is None):
        interpreter.set_tensor(image_input["index"], np.asarray(image, image_input["dtype"])[None])
        interpreter.invoke()
        for index in indices:
            values = interpreter.get_tensor(index)
            low[index] = min(low[index], float(values.min()))
            high[index] = max(high[index], float(values.max()))
    return {index: (low[index], high[index]) for index in indices}


def remeasure(calibrated, images, progress=None):
    """`calibrated` (a calibrate-only converter's bytes) with every recorded range replaced by
    the one `measure` finds on the same `images`, and ADD inputs kept within XNNPACK's
    scale limit (`_widened_for_xnnpack`)."""
    content = bytearray(calibrated)
    recorded = _recorded_tensors(content)
    ranges = _widened_for_xnnpack(measure(calibrated, images, progress), _adds(content))
    for index, (low, high) in ranges.items():
        recorded[index][0][0], recorded[index][1][0] = low, high
    return bytes(content)
