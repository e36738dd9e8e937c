"""What a `.tflite` file holds and how close it is to its Keras model.

    report = inspect_tflite("model.tflite")       # size, ops by type and dtype, partitions, delegates
    report["fidelity"] = fidelity(keras_logits, tflite_logits)
    print(markdown(report))

XNNPACK partitions are counted by loading the file in the LiteRT interpreter
with its default delegate (one DELEGATE node per partition). Which ops the
Android GPU and NNAPI delegates would refuse is read off the rules those
delegates apply (`NewOperationParser` and its type gate in LiteRT's
`delegates/gpu/common/model_builder.cc`; `NNAPIDelegateKernel::Validate` in
`delegates/nnapi/nnapi_delegate.cc`), so it needs no phone; a device's driver
can refuse more, which only `android_bench` on that device shows.
"""

import collections
import os

import numpy as np

from swiftformer_keras.lite import metadata
from swiftformer_keras.lite.interpreter import count_partitions, make_interpreter, nodes
from swiftformer_keras.utils.tables import markdown_table

# Ops the GPU delegate has a parser for (LiteRT model_builder.cc). QUANTIZE and
# DEQUANTIZE only exist with quantized models allowed, which is the default
# (TFLITE_GPU_EXPERIMENTAL_FLAGS_ENABLE_QUANT); 8-bit tensors then run in float.
GPU_OPS = frozenset(
    """
ABS ADD ADD_N AVERAGE_POOL_2D BATCH_MATMUL CAST CONCATENATION CONV_2D COS CUMSUM DENSIFY
DEPTHWISE_CONV_2D DEPTH_TO_SPACE DEQUANTIZE DIV EQUAL ELU EXP FLOOR FLOOR_DIV FLOOR_MOD
FULLY_CONNECTED GATHER GELU GREATER GREATER_EQUAL HARD_SWISH LESS LESS_EQUAL LOGISTIC LOG
LOGICAL_AND LSTM MAXIMUM MAX_POOL_2D MEAN MINIMUM MIRROR_PAD MUL NEG NOT_EQUAL ONE_HOT PACK PAD
PADV2 POW REDUCE_MAX REDUCE_MIN REDUCE_PROD QUANTIZE RELU RELU6 RELU_N1_TO_1 LEAKY_RELU PRELU
RESHAPE RESIZE_BILINEAR RESIZE_NEAREST_NEIGHBOR RSQRT SELECT SELECT_V2 SIGN SIN SLICE SOFTMAX
SPACE_TO_DEPTH SPLIT SPLIT_V SQRT SQUARE SQUARED_DIFFERENCE STRIDED_SLICE SUB SUM TANH TILE
TRANSPOSE TRANSPOSE_CONV UNPACK
""".split()
)

# Ops NNAPIDelegateKernel::Validate has a case for (LiteRT nnapi_delegate.cc).
NNAPI_OPS = frozenset(
    """
ADD ARG_MAX ARG_MIN MUL AVERAGE_POOL_2D MAX_POOL_2D L2_POOL_2D CONV_2D DEPTHWISE_CONV_2D
FULLY_CONNECTED HARD_SWISH SOFTMAX RESHAPE RESIZE_BILINEAR RESIZE_NEAREST_NEIGHBOR SQUEEZE
UNIDIRECTIONAL_SEQUENCE_LSTM L2_NORMALIZATION LOCAL_RESPONSE_NORMALIZATION LSH_PROJECTION
CONCATENATION DEQUANTIZE DENSIFY FLOOR RELU RELU_N1_TO_1 RELU6 LOGISTIC TANH SUB DIV PAD PADV2
UNIDIRECTIONAL_SEQUENCE_RNN SPACE_TO_BATCH_ND BATCH_TO_SPACE_ND STRIDED_SLICE TRANSPOSE ABS EXP
LOG POW RSQRT SLICE COS SIN TRANSPOSE_CONV SQRT RNN SPACE_TO_DEPTH SVDF LSTM MEAN
EMBEDDING_LOOKUP HASHTABLE_LOOKUP MAXIMUM MINIMUM CAST LEAKY_RELU PRELU TILE LOGICAL_OR
LOGICAL_AND LOGICAL_NOT LESS LESS_EQUAL GREATER GREATER_EQUAL EQUAL NOT_EQUAL NEG TOPK_V2 SELECT
GATHER BIDIRECTIONAL_SEQUENCE_LSTM EXPAND_DIMS SPLIT SPLIT_V LOG_SOFTMAX QUANTIZE REDUCE_ANY
REDUCE_MIN REDUCE_MAX DEPTH_TO_SPACE REDUCE_PROD SUM ELU FILL PACK UNPACK SQUARED_DIFFERENCE
BATCH_MATMUL MIRROR_PAD REVERSE_V2
""".split()
)

# NNAPI ops that Validate accepts in float32 only (int8 is refused).
NNAPI_FLOAT_ONLY = frozenset({"DIV", "SQRT", "SUM", "RSQRT"})

# The lowest Android API level at which NNAPI takes an op, by input type
# (Validate's android_sdk_version checks); 27 where it sets none.
NNAPI_MIN_API = {
    ("PAD", "float32"): 28,
    ("PAD", "int8"): 29,
    ("MEAN", "float32"): 28,
    ("MEAN", "int8"): 29,
    ("SUB", "float32"): 28,
    ("SUB", "int8"): 29,
    ("DIV", "float32"): 28,
    ("SUM", "float32"): 29,
    ("RSQRT", "float32"): 29,
    ("SQRT", "float32"): 29,
    ("MAXIMUM", "float32"): 29,
    ("MAXIMUM", "int8"): 29,
    ("TANH", "int8"): 29,
    ("QUANTIZE", "float32"): 30,
    ("DEQUANTIZE", "int8"): 29,
    ("CONV_2D", "int8"): 29,
    ("DEPTHWISE_CONV_2D", "int8"): 29,
    ("FULLY_CONNECTED", "int8"): 29,
}
# Android 15 deprecates NNAPI; phones still ship it, so the column stays useful.
NNAPI_DEFAULT_API = 27
DEBUG_LAYERS_SHOWN = 15
_INTEGER = {"int8", "uint8", "int16"}
# Android's image clients, as `swiftformer_keras.lite.android_clients` runs them.
CLIENT_NAMES = {"mediapipe": "MediaPipe Tasks", "task-library": "TFLite Task Library"}


def _load(path_or_bytes, xnnpack):
    if isinstance(path_or_bytes, (bytes, bytearray)):
        return make_interpreter(model_content=path_or_bytes, xnnpack=xnnpack)
    return make_interpreter(model_path=path_or_bytes, xnnpack=xnnpack)


def op_table(path_or_bytes):
    """The ops in execution order: `[{"op", "input_dtype", "output_dtype"}]`.

    The input dtype is that of the op's first non-constant input (a weight's
    dtype says nothing about where the op computes).
    """
    interpreter = _load(path_or_bytes, xnnpack=False)
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    listed = nodes(interpreter)
    # Runtime tensors are the graph inputs and what some op computes; the rest are constants.
    computed = {d["index"] for d in interpreter.get_input_details()}
    computed.update(i for op in listed for i in op["outputs"])
    rows = []
    for op in listed:
        inputs = [tensors[i] for i in op["inputs"] if i >= 0 and i in tensors]
        runtime = [t for t in inputs if t["index"] in computed] or inputs
        outputs = [tensors[i] for i in op["outputs"] if i in tensors]
        rows.append(
            {
                "op": op["op_name"],
                "input_dtype": np.dtype(runtime[0]["dtype"]).name if runtime else "none",
                "output_dtype": np.dtype(outputs[0]["dtype"]).name if outputs else "none",
            }
        )
    return rows


def xnnpack_partitions(path_or_bytes):
    """How many partitions LiteRT's default XNNPACK delegate splits the graph into."""
    return count_partitions(_load(path_or_bytes, xnnpack=True))[0]


def gpu_refusals(ops):
    """`{"OP": reason}` for the ops the GPU delegate would leave on the CPU."""
    refused = {}
    for row in ops:
        if row["op"] not in GPU_OPS:
            refused[row["op"]] = "no GPU delegate parser for this op"
        elif row["input_dtype"] == "int16":
            refused[row["op"]] = "16-bit integer tensors are not accepted"
    return refused


def nnapi_refusals(ops):
    """`({"OP/dtype": reason}, minimum Android API for the rest)` under NNAPI."""
    refused, minimum = {}, NNAPI_DEFAULT_API
    for row in ops:
        op, dtype = row["op"], row["input_dtype"]
        key = f"{op}/{dtype}"
        if op not in NNAPI_OPS:
            refused[key] = "no NNAPI case for this op"
        elif op in NNAPI_FLOAT_ONLY and dtype in _INTEGER:
            refused[key] = "NNAPI takes this op in float32 only"
        else:
            minimum = max(minimum, NNAPI_MIN_API.get((op, "int8" if dtype in _INTEGER else dtype), 27))
    return refused, minimum


def client_refusals(input_detail, described):
    """`{client: None (takes the file) or why it refuses it}` for Android's image clients
    (`CLIENT_NAMES`), from the file's input tensor and its metadata (`read_metadata`).

    The rules are the clients' own checks, each seen refusing our files with the
    words quoted (MediaPipe Tasks 1.2.2, tflite-support 0.4.4; `tests/lite/test_android_clients.py`
    runs the clients on files of every kind): an input that is neither uint8 nor
    float32 ("Type mismatch for input tensor ... got INT8"); a float32 input
    without `NormalizationOptions` metadata ("requires specifying
    NormalizationOptions metadata"); and in MediaPipe, a per-channel normalisation
    ("Per-channel image normalization is not available").
    """
    dtype = np.dtype(input_detail["dtype"]).name
    normalization = (described or {}).get("input", {}) or {}
    normalization = normalization.get("normalization")
    if dtype not in ("uint8", "float32"):
        reason = f"it takes {dtype} input; the clients take uint8 or float32 images"
        return dict.fromkeys(CLIENT_NAMES, reason)
    if dtype == "float32" and normalization is None:
        reason = "a float32 input needs NormalizationOptions metadata, and the file has none"
        return dict.fromkeys(CLIENT_NAMES, reason)
    refusals = dict.fromkeys(CLIENT_NAMES)
    per_channel = dtype == "float32" and (len(set(normalization["mean"])) > 1 or len(set(normalization["std"])) > 1)
    if per_channel:
        refusals["mediapipe"] = "MediaPipe takes one mean and std for all channels, and the file normalises per channel"
    return refusals


def metadata_summary(described):
    """A file's TFLite metadata (`metadata.read_metadata`) in short, or None without any."""
    if described is None:
        return None
    output = described["output"] or {}
    labels = output.get("labels") or []
    return {
        "name": described["name"],
        "input_normalization": (described["input"] or {}).get("normalization"),
        "output": output.get("name"),
        "labels": len(labels),
        "labels_first_last": [labels[0], labels[-1]] if labels else None,
        "min_parser_version": described["min_parser_version"],
    }


def inspect_tflite(path):
    """The structural part of the report for one `.tflite` file."""
    path = os.fspath(path)
    ops = op_table(path)
    by_type = collections.Counter(f"{row['op']}/{row['output_dtype']}" for row in ops)
    integer_model = any(row["output_dtype"] in _INTEGER for row in ops)
    float_ops = sorted(
        {
            row["op"]
            for row in ops
            if integer_model and row["op"] not in ("QUANTIZE", "DEQUANTIZE") and row["output_dtype"] == "float32"
        }
    )
    interpreter = _load(path, xnnpack=False)
    described = metadata.read_metadata(path)
    io = {}
    tensors = (("input", interpreter.get_input_details()[0]), ("output", interpreter.get_output_details()[0]))
    for name, detail in tensors:
        scale, zero_point = detail["quantization"]
        io[name] = {
            "shape": [int(v) for v in detail["shape"]],
            "dtype": np.dtype(detail["dtype"]).name,
            **({"quantization": {"scale": float(scale), "zero_point": int(zero_point)}} if scale else {}),
        }
    io["input"]["type"] = metadata.input_type_of(interpreter.get_input_details()[0], described)
    nnapi, nnapi_api = nnapi_refusals(ops)
    return {
        "file": path,
        "size_bytes": os.path.getsize(path),
        **io,
        "signatures": {
            key: {"inputs": list(value["inputs"]), "outputs": list(value["outputs"])}
            for key, value in interpreter.get_signature_list().items()
        },
        "metadata": metadata_summary(described),
        "clients_refuse": client_refusals(interpreter.get_input_details()[0], described),
        "op_count": len(ops),
        "ops": dict(sorted(by_type.items())),
        "float_ops_in_integer_model": float_ops,
        "xnnpack_partitions": xnnpack_partitions(path),
        "gpu_delegate_refuses": gpu_refusals(ops),
        "nnapi_refuses": nnapi,
        "nnapi_min_android_api": nnapi_api,
    }


def fidelity(reference, outputs, labels=None):
    """How close `outputs` (TFLite) are to `reference` (Keras), image by image.

    Returns max abs diff; top-1 agreement; the mean cosine similarity; the
    SQNR in dB (`10 log10(sum ref^2 / sum (out - ref)^2)`); the largest and
    mean relative error `||out - ref|| / ||ref||`; and with `labels`, the
    top-1 accuracy of each.
    """
    reference = np.asarray(reference, np.float64)
    outputs = np.asarray(outputs, np.float64)
    if reference.shape != outputs.shape or reference.ndim != 2 or len(reference) == 0:
        raise ValueError(f"Need two equal (images, classes) arrays, got {reference.shape} and {outputs.shape}.")
    diff = outputs - reference
    ref_norm = np.linalg.norm(reference, axis=1)
    out_norm = np.linalg.norm(outputs, axis=1)
    relative = np.linalg.norm(diff, axis=1) / np.maximum(ref_norm, 1e-12)
    noise = float(np.sum(diff**2))
    result = {
        "images": int(len(reference)),
        "max_abs_diff": float(np.max(np.abs(diff))),
        "top1_agreement": float(np.mean(reference.argmax(1) == outputs.argmax(1))),
        "cosine_similarity": float(
            np.mean(np.sum(reference * outputs, axis=1) / np.maximum(ref_norm * out_norm, 1e-12))
        ),
        "sqnr_db": float("inf") if noise == 0 else float(10 * np.log10(np.sum(reference**2) / noise)),
        "relative_error_max": float(np.max(relative)),
        "relative_error_mean": float(np.mean(relative)),
    }
    if labels is not None:
        labels = np.asarray(labels)
        result["keras_top1"] = float(np.mean(reference.argmax(1) == labels))
        result["tflite_top1"] = float(np.mean(outputs.argmax(1) == labels))
    return result


def _fmt(value):
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items()) or "none"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value)) or "none"
    return str(value)


def markdown(report):
    """The report as Markdown: a summary table, then the worst layers of the debug table if any."""
    rows = []
    for key, value in report.items():
        if key == "debug_layers":
            continue
        if key == "fidelity" and isinstance(value, dict):
            rows += [(f"fidelity: {name}", _fmt(number)) for name, number in value.items()]
        else:
            rows.append((key, _fmt(value)))
    text = markdown_table(["", ""], rows)
    layers = report.get("debug_layers")
    if layers:
        text += "\n\n" + markdown_table(
            ["op", "tensor", "rmse / scale", "max abs error", "scale"],
            [
                (
                    row["op_name"],
                    row["tensor_name"],
                    f"{row['rmse/scale']:.3f}",
                    f"{row['max_abs_error']:.4g}",
                    f"{row['scale']:.4g}",
                )
                for row in layers[:DEBUG_LAYERS_SHOWN]
            ],
            align="llrrr",
        )
    return text
