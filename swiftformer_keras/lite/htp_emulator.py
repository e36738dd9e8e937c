"""A Qualcomm-compiled `.tflite` file run on Qualcomm's HTP emulator, on this x86 machine.

    emulator = HtpEmulator("xs_int8_Qualcomm_SM8650.tflite")
    scores = emulator(inputs)          # inputs as the file takes them (TFLitePredictor.file_inputs)

LiteRT cannot run a compiled file here: its wheel has no Qualcomm dispatch library for
x86. The file's NPU partition is a QNN context binary (the `DISPATCH_OP`'s custom options
give its offset and size in the file), and Qualcomm's x86_64 `libQnnHtp.so`, shipped in
`onnxruntime-qnn`, executes HTP context binaries in software, bit-exact to the chip's
arithmetic as Qualcomm's own x86 tools use it. So the binary is wrapped, untouched, in an
ONNX `EPContext` node and run by onnxruntime's QNN execution provider with the HTP backend,
CPU fallback disabled: every op runs in the binary, none in onnxruntime. What the emulator
cannot show is the phone's latency, or whether the phone's QNN runtime accepts a binary
built with this QNN version.
"""

import contextlib
import ctypes
import os
import re
import sys

import numpy as np

from swiftformer_keras.lite.npu import QNN_FIX
from swiftformer_keras.lite.runtime_versions import model_root, operators

# TFLite tensor type -> numpy dtype, for the types our files' inputs and outputs use.
_NUMPY_TYPES = {0: np.float32, 1: np.float16, 3: np.uint8, 9: np.int8}


def _qnn_name(name):
    """A TFLite tensor name as LiteRT's Qualcomm plugin names it in the context binary."""
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def _tensor(subgraph, index):
    tensor = subgraph.Tensors(index)
    kind = tensor.Type()
    if kind not in _NUMPY_TYPES:
        raise ValueError(f"A compiled file's input or output has TFLite type {kind}, which this emulator does not map.")
    quantization = tensor.Quantization()
    scale = quantization.ScaleAsNumpy() if quantization is not None and quantization.ScaleLength() else [0.0]
    zero = quantization.ZeroPointAsNumpy() if quantization is not None and quantization.ZeroPointLength() else [0]
    return {
        "name": tensor.Name().decode(),
        "dtype": np.dtype(_NUMPY_TYPES[kind]),
        "shape": tuple(int(v) for v in tensor.ShapeAsNumpy()),
        "quantization": (float(scale[0]), int(zero[0])),
    }


def context_binary(content):
    """`(graph name, context binary bytes, input, output)` of a compiled file's one NPU partition;
    input and output are dicts (`name`, `dtype`, `shape`, `quantization`) of the file's tensors.

    Raises:
        ValueError: the file is not one Qualcomm `DISPATCH_OP` (not compiled, compiled for
            another vendor, or partly left to the CPU).
    """
    from flatbuffers import flexbuffers

    names = [name for name, _ in operators(content)]
    if names != ["DISPATCH_OP"]:
        raise ValueError(
            f"The file holds {len(names)} ops ({', '.join(sorted(set(names)))}), not one NPU partition; the HTP "
            "emulator runs files compiled whole for a Qualcomm SoC (lite.npu.compile_for_npu)."
        )
    _, root = model_root(content)
    subgraph = root.Subgraphs(0)
    options = flexbuffers.Loads(bytes(subgraph.Operators(0).CustomOptionsAsNumpy()))
    offset, size = int(options["bytecode_offset"]), int(options["bytecode_size"])
    if offset < 0 or size <= 0 or offset + size > len(content):
        raise ValueError(f"The NPU partition's bytecode ({size} bytes at {offset}) lies outside the file.")
    binary = bytes(content[offset : offset + size])
    graph = str(options["name"])
    if subgraph.InputsLength() != 1 or subgraph.OutputsLength() != 1:
        raise ValueError("The emulator runs files of one input and one output (our image classifiers).")
    input_tensor = _tensor(subgraph, subgraph.Inputs(0))
    output_tensor = _tensor(subgraph, subgraph.Outputs(0))
    for tensor in (graph, _qnn_name(input_tensor["name"]), _qnn_name(output_tensor["name"])):
        if tensor.encode() not in binary:
            raise ValueError(f"The context binary does not name {tensor!r}; is it a Qualcomm (QNN) partition?")
    return graph, binary, input_tensor, output_tensor


def _onnx_model(graph, binary, input_tensor, output_tensor):
    """An ONNX model of one `EPContext` node holding the context binary, inputs named as the binary names them."""
    from onnx import helper

    def value_info(tensor):
        kind = helper.np_dtype_to_tensor_dtype(tensor["dtype"])
        return helper.make_tensor_value_info(_qnn_name(tensor["name"]), kind, list(tensor["shape"]))

    node = helper.make_node(
        "EPContext",
        [_qnn_name(input_tensor["name"])],
        [_qnn_name(output_tensor["name"])],
        name=graph,
        domain="com.microsoft",
        embed_mode=1,
        ep_cache_context=binary,
        source="QNN",
        partition_name=graph,
    )
    model = helper.make_graph([node], graph, [value_info(input_tensor)], [value_info(output_tensor)])
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    return helper.make_model(model, opset_imports=opsets, producer_name="swiftformer-keras").SerializeToString()


@contextlib.contextmanager
def _c_stdout_dropped():
    """Drops what native code writes to stdout in the block: Qualcomm's x86 HTP library prints a note
    on its thread-local set-up into C's stdout buffer, which would land in a command's output at exit."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "wb") as null:
        os.dup2(null.fileno(), 1)
        try:
            yield
        finally:
            ctypes.CDLL(None).fflush(None)  # C's buffer goes to /dev/null, not to the restored stdout
            os.dup2(saved, 1)
            os.close(saved)


def _session(model):
    """An onnxruntime session of the QNN execution provider on the HTP backend, CPU fallback off."""
    try:
        import onnxruntime
        import onnxruntime_qnn
    except ImportError:
        raise ImportError(f"The HTP emulator needs onnxruntime and {QNN_FIX}") from None
    onnxruntime.set_default_logger_severity(3)  # its warnings about Windows-only features are noise here
    name = onnxruntime_qnn.get_ep_name()
    if not any(device.ep_name == name for device in onnxruntime.get_ep_devices()):
        onnxruntime.register_execution_provider_library(name, onnxruntime_qnn.get_library_path())
    devices = [device for device in onnxruntime.get_ep_devices() if device.ep_name == name]
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    options.add_session_config_entry("session.disable_cpu_ep_fallback", "1")
    options.add_provider_for_devices(devices[:1], {"backend_path": onnxruntime_qnn.get_qnn_htp_path()})
    return onnxruntime.InferenceSession(model, options)


class HtpEmulator:
    """Runs a Qualcomm-compiled file (`lite.npu`) on the HTP emulator, one image at a time.

    Attributes:
        input, output: the file's tensors (`name`, `dtype`, `shape`, `quantization`).
        graph: the QNN graph's name in the context binary.
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        with open(self.path, "rb") as file:
            content = file.read()
        self.graph, binary, self.input, self.output = context_binary(content)
        with _c_stdout_dropped():
            self.session = _session(_onnx_model(self.graph, binary, self.input, self.output))
        self._input_name = self.session.get_inputs()[0].name

    def __call__(self, inputs):
        """Scores `(batch, classes)` float32 for `inputs`, an array of the file's input tensors
        (its dtype, `(batch, *shape[1:])`); integer outputs are dequantized."""
        inputs = np.asarray(inputs)
        if inputs.dtype != self.input["dtype"] or inputs.shape[1:] != self.input["shape"][1:]:
            raise ValueError(
                f"{self.path!r} takes N x {list(self.input['shape'][1:])} {self.input['dtype'].name} inputs, "
                f"got {inputs.dtype.name}{list(inputs.shape)}."
            )
        rows = [self.session.run(None, {self._input_name: item[None]})[0] for item in inputs]
        if not rows:
            return np.zeros((0, *self.output["shape"][1:]), np.float32)
        outputs = np.concatenate(rows)
        if np.issubdtype(outputs.dtype, np.integer):
            scale, zero_point = self.output["quantization"]
            return ((outputs.astype(np.float32) - zero_point) * scale).astype(np.float32)
        return outputs.astype(np.float32)
