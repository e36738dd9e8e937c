"""lite/npu_report.py: the emulator's fidelity rows and the card of an NPU compile."""

import numpy as np

from swiftformer_keras.lite.npu_report import NOT_SHOWN, emulated_fidelity, npu_card
from swiftformer_keras.lite.predictor import TFLitePredictor


def test_rows_compare_the_cpu_and_each_soc_with_the_reference(npu_files):
    source, compiled = npu_files["uint8"]
    predictor = TFLitePredictor(source)
    images = np.random.default_rng(1).normal(size=(12, *predictor.image_shape)).astype(np.float32)
    labels = np.arange(12) % predictor.num_classes
    rows = emulated_fidelity(source, compiled, images, labels=labels, progress=False)
    assert [row["runtime"].split(",")[0] for row in rows] == ["litert 2.3.0 CPU (XNNPACK)", *["HTP emulator"] * 2]
    cpu = rows[0]
    assert cpu["top1_agreement"] == 1.0 and cpu["max_abs_diff"] == 0.0  # the reference is the CPU itself
    for row in rows[1:]:
        assert row["images"] == 12 and row["cpu_agreement"] == row["top1_agreement"]
        assert 0 <= row["tflite_top1"] <= 1 and row["sqnr_vs_cpu_db"] == row["sqnr_db"]


def test_the_card_shows_every_target_the_reason_of_a_failure_and_what_is_not_shown():
    report = {
        "source": "xs_fp32.tflite",
        "source_bytes": 12_500_000,
        "litert": "2.3.0",
        "input": "image",
        "output": "probabilities",
        "command": "python conversion/to_npu.py xs_fp32.tflite --npu qualcomm:SM8650,SM8350 --output-dir npu",
        "targets": [
            {
                "target": "Qualcomm_SM8650",
                "vendor": "qualcomm",
                "soc": "SM8650",
                "compiled": True,
                "reason": None,
                "file": "xs_fp32_Qualcomm_SM8650.tflite",
                "bytes": 7_510_688,
                "npu_ops": 210,
                "ops": 210,
                "partitions": 1,
                "dispatch_ops": 1,
                "cpu_ops": 0,
                "htp_arch": "v75",
                "seconds": 0.43,
                "compiler": "QNN 2.51.0 (onnxruntime-qnn 2.7.0)",
            },
            {
                "target": "Qualcomm_SM8350",
                "vendor": "qualcomm",
                "soc": "SM8350",
                "compiled": False,
                "reason": "could not create op: q::QNN_Gelu (at stage0/Gelu)",
                "seconds": 0.25,
                "compiler": "QNN 2.51.0 (onnxruntime-qnn 2.7.0)",
            },
        ],
        "fidelity": {
            "images": {"folder": "photos", "used": 2, "labelled": False},
            "reference": "the Keras model (SwiftFormer-XS, weights imagenet)",
            "rows": [
                {"runtime": "litert 2.3.0 CPU (XNNPACK)", "images": 2, "top1_agreement": 1.0, "sqnr_db": 40.0},
                {
                    "runtime": "HTP emulator, Qualcomm_SM8650 (v75)",
                    "images": 2,
                    "top1_agreement": 0.5,
                    "sqnr_db": 30.0,
                    "cpu_agreement": 0.5,
                    "sqnr_vs_cpu_db": 31.0,
                },
            ],
        },
    }
    card = npu_card(report)
    assert "1 of 2 targets compiled from `xs_fp32.tflite` (12.50 MB)" in card
    assert "| Qualcomm_SM8650 | v75 | yes | 210 of 210 | 1 | 0 | 7.51 MB | 0.4 |  |" in card
    failed = "| Qualcomm_SM8350 |  | **no** |  |  |  |  | 0.2 | could not create op: q::QNN_Gelu (at stage0/Gelu) |"
    assert failed in card
    assert "| HTP emulator, Qualcomm_SM8650 (v75) | 2 | 50.00% | 30.0 |  | 50.00% | 31.0 |" in card
    assert NOT_SHOWN in card
    assert 'context.assets, "xs_fp32_Qualcomm_SM8650.tflite"' in card
    assert "Accelerator.NPU, Accelerator.GPU, Accelerator.CPU" in card
    assert report["command"] in card and "AI Pack" not in card
