"""The model card: what it says of a file comes from what the report read off the file."""

import copy

from swiftformer_keras.lite.card import model_card

REPORT = {  # the report of a default file, in the shape pipeline.convert writes it
    "file": "/home/me/secret/project/xs.tflite",
    "model": "SwiftFormer-XS",
    "weights": "imagenet",
    "attention": "l2",
    "mode": "fp32",
    "io": "float32",
    "classifier_activation": "softmax",
    "crop_pct": 0.875,
    "input_size": [224, 224],
    "min_runtime_asked": "2.17",
    "min_runtime_needed": "2.17.0",
    "min_runtime_set_by": ["GELU v1"],
    "size_bytes": 14_000_000,
    "op_count": 3,
    "ops": {"CONV_2D/float32": 3},
    "input": {"shape": [1, 224, 224, 3], "dtype": "float32", "type": "float32"},
    "output": {"shape": [1, 1000], "dtype": "float32"},
    "signatures": {"serving_default": {"inputs": ["image"], "outputs": ["probabilities"]}},
    "metadata": {
        "name": "SwiftFormer-XS",
        "input_normalization": {"mean": [0.0], "std": [1.0]},
        "output": "probabilities",
        "labels": 1000,
        "labels_first_last": ["tench", "toilet tissue"],
    },
    "clients_refuse": {"mediapipe": None, "task-library": None},
    "xnnpack_partitions": 1,
    "gpu_delegate_refuses": {},
    "nnapi_refuses": {},
    "nnapi_min_android_api": 29,
    "recipe": {},
    "activation": "exact GELU (erf), as in the Keras model",
    "labels": {
        "source": "ImageNet-1k class names (a 1000-class head)",
        "count": 1000,
        "first": "tench",
        "last": "toilet tissue",
    },
}


def test_a_file_the_clients_take_gets_their_code_and_its_labels():
    card = model_card(REPORT)
    assert "\n# SwiftFormer-XS: fp32 TFLite\n" in card and "/home/me" not in card
    assert 'setModelAssetPath("xs.tflite")' in card and "the file carries its labels and normalisation" in card
    assert "| Android clients | MediaPipe Tasks: takes it; TFLite Task Library: takes it |" in card


def test_a_file_without_metadata_is_not_sold_to_mediapipe_and_carries_no_labels():
    report = copy.deepcopy(REPORT)
    report.update(
        metadata=None,
        clients_refuse=dict.fromkeys(
            ("mediapipe", "task-library"), "a float32 input needs NormalizationOptions metadata, and the file has none"
        ),
    )
    card = model_card(report)
    assert "setModelAssetPath" not in card and "carries its labels" not in card
    assert "MediaPipe Tasks refuses this file: a float32 input needs NormalizationOptions metadata" in card
    assert "| Labels | none in the file |" in card and "| Metadata | none |" in card
    assert "\n# xs: fp32 TFLite\n" in card  # the file's name, without the metadata's


def test_the_tensors_are_described_as_the_file_has_them():
    report = copy.deepcopy(REPORT)
    report.update(mode="int8", io="uint8")  # asked for uint8 in and out: the file's output stayed float32
    report["input"] = {
        "shape": [1, 224, 224, 3],
        "dtype": "uint8",
        "type": "quantized",
        "quantization": {"scale": 1.0, "zero_point": 0},
    }
    card = model_card(report)
    assert "| Input | `uint8` (1, 224, 224, 3), scale 1, zero point 0: the normalised image, quantized" in card
    assert "| Output | `float32` (1, 1000): probabilities (softmax) |" in card
    assert "- uint8-input" in card
