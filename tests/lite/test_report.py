"""The conversion report: op inventory, partitions, delegate rules, fidelity numbers."""

import collections

import numpy as np
import pytest

from conftest import tiny_model
from swiftformer_keras.lite import report as rep
from swiftformer_keras.lite.calibration import random_images
from swiftformer_keras.lite.converter import export_tflite, tflite_ops


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    model = tiny_model("l2")
    return {
        "fp32": export_tflite(model, folder / "fp32.tflite"),
        "int8": export_tflite(
            model, folder / "int8.tflite", mode="int8", calibration=random_images(16, (64, 64), seed=1)
        ),
        # LiteRT's int8 recipe: the attention's sums as SUM ops
        "int8_litert": export_tflite(
            model,
            folder / "int8_litert.tflite",
            mode="int8",
            calibration=random_images(16, (64, 64), seed=1),
            min_runtime="2.17",
        ),
    }


def test_inventory_agrees_with_the_flatbuffer_and_the_dtypes_are_right(exported):
    for path in exported.values():
        report = rep.inspect_tflite(path)
        by_name = collections.Counter()
        for key, count in report["ops"].items():
            by_name[key.split("/")[0]] += count
        assert by_name == tflite_ops(path)  # parsed from the schema, independently of the interpreter
        assert report["op_count"] == sum(by_name.values())
        assert report["xnnpack_partitions"] == 1
        # Metadata with ImageNet's per-channel normalisation: the file takes the normalised image.
        assert report["input"] == {"shape": [1, 64, 64, 3], "dtype": "float32", "type": "normalized"}
        assert report["output"] == {"shape": [1, 10], "dtype": "float32"}
        assert report["clients_refuse"] == {
            "mediapipe": "MediaPipe takes one mean and std for all channels, and the file normalises per channel",
            "task-library": None,
        }
    fp32, int8, litert = (rep.inspect_tflite(exported[mode]) for mode in ("fp32", "int8", "int8_litert"))
    assert all(key.endswith("/float32") for key in fp32["ops"]) and fp32["float_ops_in_integer_model"] == []
    # Both int8 recipes run every convolution in int8, the first one too.
    assert "CONV_2D/float32" not in litert["ops"] and "CONV_2D/float32" not in int8["ops"]
    assert litert["ops"]["CONV_2D/int8"] == fp32["ops"]["CONV_2D/float32"]
    # Each attention block sums twice over channels and twice over tokens: LiteRT's recipe with SUM,
    # the default with a 1x1 convolution by ones and a FULLY_CONNECTED by ones.
    sums = litert["ops"]["SUM/int8"]
    assert sums % 4 == 0 and not any(key.startswith("SUM/") for key in int8["ops"])
    assert int8["ops"]["CONV_2D/int8"] == fp32["ops"]["CONV_2D/float32"] + sums // 2
    assert int8["ops"]["FULLY_CONNECTED/int8"] == litert["ops"]["FULLY_CONNECTED/int8"] + sums // 2
    assert litert["float_ops_in_integer_model"] == ["MAXIMUM", "RSQRT"]
    assert int8["float_ops_in_integer_model"] == ["DIV", "MAXIMUM", "SQRT"]
    assert litert["size_bytes"] < 0.5 * fp32["size_bytes"]
    assert litert["size_bytes"] < int8["size_bytes"] < 1.1 * litert["size_bytes"]  # the ops' own bytes


def test_delegate_rules_on_the_real_files(exported):
    fp32, int8, litert = (rep.inspect_tflite(exported[mode]) for mode in ("fp32", "int8", "int8_litert"))
    assert fp32["gpu_delegate_refuses"] == int8["gpu_delegate_refuses"] == litert["gpu_delegate_refuses"] == {}
    assert fp32["nnapi_refuses"] == {"GELU/float32": "no NNAPI case for this op"}
    assert litert["nnapi_refuses"] == {"SUM/int8": "NNAPI takes this op in float32 only"}
    assert int8["nnapi_refuses"] == {}  # the default recipe's sums are convolutions and a matmul
    assert int8["nnapi_min_android_api"] == litert["nnapi_min_android_api"] == 30  # QUANTIZE of the float input


def test_delegate_rules_on_synthetic_rows():
    rows = [
        {"op": "CONV_2D", "input_dtype": "int8", "output_dtype": "int8"},
        {"op": "GELU", "input_dtype": "int8", "output_dtype": "int8"},
        {"op": "DIV", "input_dtype": "float32", "output_dtype": "float32"},
        {"op": "DIV", "input_dtype": "int8", "output_dtype": "int8"},
        {"op": "STABLEHLO_COMPOSITE", "input_dtype": "float32", "output_dtype": "float32"},
        {"op": "ADD", "input_dtype": "int16", "output_dtype": "int16"},
    ]
    assert rep.gpu_refusals(rows) == {
        "STABLEHLO_COMPOSITE": "no GPU delegate parser for this op",
        "ADD": "16-bit integer tensors are not accepted",
    }
    refused, api = rep.nnapi_refusals(rows)
    assert set(refused) == {"GELU/int8", "DIV/int8", "STABLEHLO_COMPOSITE/float32"}
    assert api == 29  # int8 CONV_2D


def test_fidelity_numbers_against_hand_computed_values():
    reference = np.array([[1.0, 2.0, 3.0], [3.0, 0.0, -1.0]])
    noisy = reference + np.array([[0.1, -0.1, 0.0], [0.0, 0.2, 0.0]])
    result = rep.fidelity(reference, noisy, labels=[2, 1])
    signal, noise = (reference**2).sum(), 0.01 + 0.01 + 0.04
    assert result["sqnr_db"] == pytest.approx(10 * np.log10(signal / noise))
    assert result["max_abs_diff"] == pytest.approx(0.2)
    assert result["top1_agreement"] == 1.0
    assert result["relative_error_max"] == pytest.approx(0.2 / np.sqrt(10))
    cos = [np.dot(r, n) / np.linalg.norm(r) / np.linalg.norm(n) for r, n in zip(reference, noisy, strict=True)]
    assert result["cosine_similarity"] == pytest.approx(np.mean(cos))
    assert result["keras_top1"] == 0.5 and result["tflite_top1"] == 0.5
    flipped = rep.fidelity(reference, reference[:, ::-1])
    assert flipped["top1_agreement"] == 0.0
    assert rep.fidelity(reference, reference)["sqnr_db"] == float("inf")
    with pytest.raises(ValueError, match="equal"):
        rep.fidelity(reference, reference[:1])


def test_markdown_lists_every_field_and_the_worst_layers(exported):
    report = rep.inspect_tflite(exported["int8"])
    report["fidelity"] = {"top1_agreement": 0.99}
    report["debug_layers"] = [
        {"op_name": "MUL", "tensor_name": f"t{i}", "rmse/scale": 1.0 / (i + 1), "max_abs_error": 0.1, "scale": 0.01}
        for i in range(20)
    ]
    text = rep.markdown(report)
    for key in ("size_bytes", "xnnpack_partitions", "nnapi_refuses", "fidelity: top1_agreement"):
        assert f"| {key} |" in text
    assert "| MUL | t14 |" in text and "| MUL | t15 |" not in text  # the 15 worst only


@pytest.mark.parametrize(
    "dtype, scale, normalization, mediapipe, task_library",
    [
        (np.float32, 0.0, {"mean": [0.0], "std": [1.0]}, None, None),  # the default file: float pixels
        (np.uint8, 0.0, None, None, None),  # camera bytes need no normalisation, nor metadata
        (np.float32, 0.0, None, "needs NormalizationOptions", "needs NormalizationOptions"),  # --no-metadata
        (np.int8, 0.5, {"mean": [0.0], "std": [1.0]}, "takes int8 input", "takes int8 input"),  # --io int8
        (np.float32, 0.0, {"mean": [123.7, 116.3, 103.5], "std": [58.4, 57.1, 57.4]}, "per channel", None),
    ],
)
def test_which_android_clients_take_a_file_follows_their_own_checks(
    dtype, scale, normalization, mediapipe, task_library
):
    """The rules; tests/lite/test_android_clients.py checks them against the clients themselves."""
    described = None if normalization is None else {"input": {"normalization": normalization}}
    refused = rep.client_refusals({"dtype": dtype, "quantization": (scale, 0)}, described)
    for client, expected in (("mediapipe", mediapipe), ("task-library", task_library)):
        assert (refused[client] is None) if expected is None else expected in refused[client]
