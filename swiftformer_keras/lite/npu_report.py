"""What the NPU compile step made, measured: fidelity on the HTP emulator and the card people read.

    rows = emulated_fidelity("xs_int8.tflite", {"SM8650": "npu/xs_int8_Qualcomm_SM8650.tflite"},
                             images, labels=None, reference=keras_scores)
    text = npu_card(report)      # report: conversion/to_npu.py's JSON

Each compiled file runs on Qualcomm's HTP emulator (`lite.htp_emulator`) on the same photos as
the uncompiled file in LiteRT's CPU interpreter; both are compared with the reference (the
Keras model's scores when given, else the CPU interpreter's) by `report.fidelity`: top-1
agreement, SQNR, and with labels top-1 accuracy. The NPU's rows also say how often they agree
with the CPU interpreter on the same file, which is what moving a file from CPU to NPU changes.
"""

import numpy as np
from tqdm import tqdm

from swiftformer_keras.lite.htp_emulator import HtpEmulator
from swiftformer_keras.lite.interpreter import runtime_version
from swiftformer_keras.lite.predictor import TFLitePredictor
from swiftformer_keras.lite.report import fidelity
from swiftformer_keras.utils.tables import markdown_table

# What no emulator shows; the card says it under the numbers.
NOT_SHOWN = (
    "The HTP emulator computes what the NPU computes, not how fast: latency on a phone is not measured here. "
    "Nor can it show whether a phone's QNN runtime accepts a context binary built with this QNN version."
)
KOTLIN = """```kotlin
// build.gradle: implementation("com.google.ai.edge.litert:litert:2.3.0")
val model = CompiledModel.create(
    context.assets, "{file}",
    CompiledModel.Options(Accelerator.NPU, Accelerator.GPU, Accelerator.CPU),  // NPU first, then GPU, then CPU
    env,
)
val inputs = model.createInputBuffers()
val outputs = model.createOutputBuffers()
inputs[0].writeFloat(pixels)          // {input}
model.run(inputs, outputs)
val scores = outputs[0].readFloat()   // {output}
```"""


def _fidelity_row(runtime, scores, reference, labels, cpu_scores=None):
    row = {"runtime": runtime, **fidelity(reference, scores, labels)}
    if cpu_scores is not None:
        row["cpu_agreement"] = float(np.mean(cpu_scores.argmax(1) == scores.argmax(1)))
        row["sqnr_vs_cpu_db"] = fidelity(cpu_scores, scores)["sqnr_db"]
    return row


def emulated_fidelity(source, compiled, images, labels=None, reference=None, progress=True):
    """The fidelity of `source` in LiteRT's CPU interpreter and of each compiled file on the HTP emulator.

    Args:
        source: the uncompiled `.tflite` file.
        compiled: `{name: compiled file}`, e.g. `{"Qualcomm_SM8650 (v75)": path}`.
        images: `(N, H, W, 3)` normalised as for the Keras model (`utils.images.preprocess_input`).
        labels: class indices of the images, or None.
        reference: the Keras model's scores for `images` (as the file's output: probabilities
            or logits), or None to compare with the CPU interpreter's.

    Returns:
        One row per runtime (`report.fidelity`'s keys and `runtime`; the emulator's rows also
        `cpu_agreement` and `sqnr_vs_cpu_db`), the CPU interpreter's first.
    """
    predictor = TFLitePredictor(source, num_threads=2)
    cpu = predictor(images)
    reference = cpu if reference is None else np.asarray(reference, np.float32)
    name, version = runtime_version()
    rows = [_fidelity_row(f"{name} {version} CPU (XNNPACK)", cpu, reference, labels)]
    inputs = predictor.file_inputs(images)
    for key, path in compiled.items():
        emulator = HtpEmulator(path)
        scores = np.concatenate(
            [emulator(inputs[i : i + 1]) for i in tqdm(range(len(inputs)), desc=f"HTP emulator {key}", unit="image")]
            if progress
            else [emulator(inputs)]
        )
        rows.append(_fidelity_row(f"HTP emulator, {key}", scores, reference, labels, cpu))
    return rows


def _size(count):
    return f"{count / 1e6:.2f} MB"


def _target_table(targets):
    rows = []
    for row in targets:
        if row["compiled"]:
            cells = [
                "yes",
                f"{row['npu_ops']} of {row['ops']}",
                row["partitions"],
                row["cpu_ops"],
                _size(row["bytes"]),
                f"{row['seconds']:.1f}",
                "",
            ]
        else:
            cells = ["**no**", "", "", "", "", f"{row['seconds']:.1f}", row["reason"]]
        rows.append([row["target"], row.get("htp_arch", ""), *cells])
    headers = ["target", "HTP", "compiled", "ops on the NPU", "NPU partitions", "ops on the CPU", "size", "compile s"]
    return markdown_table([*headers, "compiler's reason"], rows)


def _fidelity_table(fidelity_report):
    rows = []
    for row in fidelity_report["rows"]:
        rows.append(
            [
                row["runtime"],
                row["images"],
                f"{100 * row['top1_agreement']:.2f}%",
                f"{row['sqnr_db']:.1f}",
                f"{100 * row['tflite_top1']:.2f}%" if "tflite_top1" in row else "",
                f"{100 * row['cpu_agreement']:.2f}%" if "cpu_agreement" in row else "",
                f"{row['sqnr_vs_cpu_db']:.1f}" if "sqnr_vs_cpu_db" in row else "",
            ]
        )
    headers = [
        "runtime",
        "images",
        "top-1 agreement with the reference",
        "SQNR vs the reference dB",
        "top-1 accuracy",
        "top-1 agreement with the CPU",
        "SQNR vs the CPU dB",
    ]
    return markdown_table(headers, rows)


def npu_card(report):
    """The card of an NPU compile (`conversion/to_npu.py`'s report) as Markdown."""
    compiled = [row for row in report["targets"] if row["compiled"]]
    lines = [
        f"# {report['source']} compiled for NPUs",
        "",
        f"{len(compiled)} of {len(report['targets'])} targets compiled from `{report['source']}` "
        f"({_size(report['source_bytes'])}) by LiteRT {report['litert']}'s AOT compiler with "
        f"{', '.join(sorted({row['compiler'] for row in report['targets']}))}.",
        "",
        _target_table(report["targets"]),
        "",
    ]
    if report.get("fidelity"):
        images = report["fidelity"]["images"]
        lines += [
            "## On the HTP emulator",
            "",
            f"{images['used']} photos of `{images['folder']}`; the reference is {report['fidelity']['reference']}.",
            "",
            _fidelity_table(report["fidelity"]),
            "",
            NOT_SHOWN,
            "",
        ]
    if compiled:
        example = compiled[0]
        lines += [
            "## On Android",
            "",
            f"Each `<name>_<target>.tflite` runs on its SoC's NPU through LiteRT's `CompiledModel`; "
            f"`{report['source']}` is the CPU and GPU file for every other phone.",
            "",
            KOTLIN.format(file=example["file"], input=report["input"], output=report["output"]),
            "",
        ]
    if report.get("ai_pack"):
        pack = report["ai_pack"]
        lines += [
            "## AI Pack",
            "",
            f"`ai_pack/` is the AI Pack `{pack['pack']}` for Play for On-device AI: copy it to your app's project, "
            f'add `include(":{pack["pack"]}")` to settings.gradle.kts and `assetPacks += ":{pack["pack"]}"` '
            "to the app's android block, and Play delivers each phone its SoC's file (device groups in "
            "`ai_pack/device_targeting_configuration.xml`), the CPU file to the rest; LiteRT's "
            "`AiPackModelProvider` loads it.",
            "",
            markdown_table(["device group", "file"], [[group, path] for group, path in pack["groups"].items()]),
            "",
        ]
        if pack["left_out"]:
            lines += [f"Not packed (not phones, Play cannot target them): {', '.join(pack['left_out'])}.", ""]
    if report.get("command"):
        lines += ["## How it was made", "", f"```\n{report['command']}\n```", ""]
    return "\n".join(lines)
