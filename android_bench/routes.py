"""The ways to run one SwiftFormer that compare.py times side by side, all on one set of weights.

A `Route` is one way: `run(images_nhwc) -> logits`, with what it is made of (file size, op
count, TRANSPOSE ops; ExecuTorch: its XNNPACK partitions and the ops left outside them), or,
where it could not be built, no `run` and the reason. `build_routes` makes every route of a
model from its `Shared` weights:

- PyTorch eager (transformers), the reference every route is checked against;
- ours: the project's TFLite files, fp32 and full-integer int8, on LiteRT with XNNPACK;
- ONNX Runtime on `torch.onnx.export`'s graph: fp32, and static int8 QDQ (`quantize_onnx_int8`);
- litert-torch (PyTorch -> TFLite), run by `android_bench.litert_torch_export` in a Python of
  its own, whose packages the project's environment should not take;
- ExecuTorch with XNNPACK, fp32 and int8, as exported and rewritten (`executorch_export`).

Our files are the caller's (compare.py converts the Keras model): this module starts neither
TensorFlow nor Keras. PyTorch, onnx / onnxruntime (the `bench` extra), litert-torch and
ExecuTorch are optional and heavy: each is imported in the builder that needs it, and a
missing one is a failed route that says what to install.
"""

import collections
import dataclasses
import os
import subprocess
import sys
from collections.abc import Callable

import numpy as np

from android_bench import executorch_export, torch_reference
from android_bench.commands import python_module_command
from swiftformer_keras.lite.predictor import tflite_runner
from swiftformer_keras.lite.runtime_versions import operators
from swiftformer_keras.utils import files

OURS_FP32, OURS_INT8 = "ours TFLite fp32", "ours TFLite int8"
ORT_FP32, ORT_INT8 = "ONNX Runtime fp32", "ONNX Runtime int8 (QDQ)"
TORCH, LITERT_TORCH = "PyTorch eager", "litert-torch TFLite fp32"
ET_FP32, ET_INT8 = "ExecuTorch fp32, as exported", "ExecuTorch int8, as exported"
ET_FP32_REWRITTEN, ET_INT8_REWRITTEN = "ExecuTorch fp32, rewritten", "ExecuTorch int8, rewritten"
# compare.py --executorch: the routes of each choice, as (name, rewritten, int8).
EXECUTORCH_ROUTES = {
    "all": (
        (ET_FP32, False, False),
        (ET_INT8, False, True),
        (ET_FP32_REWRITTEN, True, False),
        (ET_INT8_REWRITTEN, True, True),
    ),
    "fp32": ((ET_FP32, False, False), (ET_FP32_REWRITTEN, True, False)),
    "none": (),
}
LITERT_TORCH_TIMEOUT_S = 1800  # an L3 conversion takes minutes


@dataclasses.dataclass
class Shared:
    """One set of weights in both frameworks: the PyTorch `reference`, our Keras `model`,
    the weights as a Hugging Face layout `safetensors` file (for litert-torch), and the
    `architecture` `(depths, widths, classes, attention)`."""

    reference: object
    model: object
    safetensors: str
    architecture: tuple


@dataclasses.dataclass
class Route:
    """One way to run the model: `run(image_nhwc)` -> logits, with its size and ops; for ExecuTorch,
    its XNNPACK `partitions` and `ops_outside` them (`{op: count}`). A route that could not be
    built has `run` None and its `error`."""

    name: str
    run: Callable | None
    size_mb: float | None = None
    ops: int | None = None
    transposes: int | None = None
    error: str | None = None
    partitions: int | None = None
    ops_outside: dict | None = None


def build_routes(name, shared, ours, calib, folder, threads, size, litert_torch_python=None, executorch="all"):
    """Every route of the model `name`, all on the `Shared` weights.

    Args:
        ours: our `(fp32, int8)` `.tflite` files of `shared.model`.
        calib: NHWC calibration images (ONNX Runtime's and ExecuTorch's int8).
        folder: where the routes' own files are written.
        threads: the thread count of every runtime.
        size: the input's `(height, width)`.
        litert_torch_python: the Python that runs litert-torch (None: this one, if it has it).
        executorch: a key of `EXECUTORCH_ROUTES`.
    """
    fp32, int8 = ours
    routes = [
        Route(TORCH, torch_reference.predictor(shared.reference, threads)),
        tflite_route(OURS_FP32, fp32, threads),
        tflite_route(OURS_INT8, int8, threads),
    ]
    routes += onnx_routes(name, shared, calib, folder, threads, size)
    routes.append(litert_torch_route(name, shared, folder, threads, size, litert_torch_python))
    routes += executorch_routes(name, shared, calib, folder, threads, size, EXECUTORCH_ROUTES[executorch])
    return routes


def tflite_route(name, path, threads):
    """The `.tflite` file at `path` on the TFLite runtime (XNNPACK), NHWC in."""
    ops = collections.Counter(op for op, _ in operators(path))
    predict = tflite_runner(path, num_threads=threads)
    return Route(name, predict, os.path.getsize(path) / 1e6, sum(ops.values()), ops.get("TRANSPOSE", 0))


def onnx_routes(name, shared, calib, folder, threads, size):
    """ONNX Runtime on the reference's ONNX export: fp32, and its static int8 QDQ form."""
    fp32 = torch_reference.export_onnx(shared.reference, os.path.join(folder, f"{name}_fp32.onnx"), size)
    int8 = quantize_onnx_int8(fp32, os.path.join(folder, f"{name}_int8.onnx"), calib)
    return [onnx_route(ORT_FP32, fp32, threads), onnx_route(ORT_INT8, int8, threads)]


def onnx_route(name, path, threads):
    """The ONNX file at `path` on ONNX Runtime's CPU provider; NHWC images are transposed to its NCHW."""
    import onnx  # the bench extra, like onnxruntime
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    graph = onnx.load(path).graph

    def run(images):
        return session.run(None, {input_name: np.ascontiguousarray(images.transpose(0, 3, 1, 2))})[0]

    transposes = sum(node.op_type == "Transpose" for node in graph.node)
    return Route(name, run, os.path.getsize(path) / 1e6, len(graph.node), transposes)


class _OnnxCalibration:
    """ONNX Runtime's CalibrationDataReader over NHWC images."""

    def __init__(self, input_name, images):
        self.items = iter([{input_name: image[None].transpose(0, 3, 1, 2).copy()} for image in images])

    def get_next(self):
        return next(self.items, None)


def quantize_onnx_int8(fp32_path, int8_path, calib):
    """Writes the static int8 QDQ form of the fp32 ONNX file (per-channel int8 weights, int8
    activations calibrated on the NHWC images `calib`), as a user of ONNX Runtime would; returns
    `int8_path`. The prepared (shape-inferred) graph goes beside it."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static  # the bench extra
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared = int8_path.removesuffix(".onnx") + "_prepared.onnx"
    quant_pre_process(fp32_path, prepared)
    quantize_static(
        prepared,
        int8_path,
        _OnnxCalibration(torch_reference.ONNX_INPUT, calib),
        quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QInt8,
        weight_type=QuantType.QInt8,
        per_channel=True,
    )
    return int8_path


def executorch_routes(name, shared, calib, folder, threads, size, wanted):
    """The ExecuTorch routes `wanted` ((route name, rewritten, int8), ...) of the PyTorch reference."""
    if not wanted:
        return []
    try:
        import executorch  # noqa: F401  (optional: requirements-executorch.txt)
    except ImportError:
        reason = "executorch is not installed (pip install -r requirements-executorch.txt)"
        return [Route(route, None, error=reason) for route, _, _ in wanted]
    routes = []
    for route, rewritten, int8 in wanted:
        try:
            program = executorch_export.export(shared.reference, size, rewritten, calib if int8 else None)
        except Exception as error:  # an export ExecuTorch refuses is a row that says why, not a lost run
            last = (str(error).strip().splitlines() or [type(error).__name__])[-1][:200]
            routes.append(Route(route, None, error=f"ExecuTorch export failed: {last}"))
            continue
        path = os.path.join(
            folder, f"{name}_executorch_{'rewritten' if rewritten else 'as_exported'}_{'int8' if int8 else 'fp32'}.pte"
        )
        files.write_bytes_atomically(path, program.buffer)
        routes.append(
            Route(
                route,
                executorch_export.runner(program.buffer, threads),
                os.path.getsize(path) / 1e6,
                program.delegated + sum(program.outside.values()),
                None,
                partitions=program.partitions,
                ops_outside=dict(program.outside),
            )
        )
    return routes


def litert_torch_command(python, shared, output, size):
    """`(argv, env)` that convert the reference with `shared`'s weights to `output` with litert-torch,
    in `python` (`android_bench.litert_torch_export`, found in this checkout whatever `python` has
    installed)."""
    depths, widths, classes, attention = shared.architecture
    return python_module_command(
        python,
        "android_bench.litert_torch_export",
        "--depths",
        ",".join(map(str, depths)),
        "--widths",
        ",".join(map(str, widths)),
        "--classes",
        str(classes),
        "--attention",
        attention,
        "--weights",
        shared.safetensors,
        "--output",
        output,
        "--input-size",
        str(size[0]),
        str(size[1]),
    )


def litert_torch_route(name, shared, folder, threads, size, python=None):
    """litert-torch's TFLite file of the reference (NCHW in) on the TFLite runtime.

    The conversion runs in `python`, an environment of its own: litert-torch pins packages (an
    older typing_extensions) that the project's environment should not take. Without `python`,
    this one, where litert-torch is installed.
    """
    if python is None:
        try:
            import litert_torch  # noqa: F401  (optional, and usually in an environment of its own)
        except ImportError:
            return Route(LITERT_TORCH, None, error="litert-torch is not installed (see --litert-torch-python)")
        python = sys.executable
    path = os.path.join(folder, f"{name}_litert_torch.tflite")
    command, env = litert_torch_command(python, shared, path, size)
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=LITERT_TORCH_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as error:
        return Route(LITERT_TORCH, None, error=f"litert-torch did not run: {error}")
    if done.returncode != 0 or not os.path.exists(path):
        last = (done.stderr.strip().splitlines() or ["no output"])[-1][:200]
        return Route(LITERT_TORCH, None, error=f"litert-torch conversion failed: {last}")
    route = tflite_route(LITERT_TORCH, path, threads)
    inner = route.run
    route.run = lambda images: inner(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
    return route
