"""The model card of a converted file: its conversion report as a page people read.

    text = model_card(report)          # report: pipeline.convert_swiftformer's dict

`conversion/to_tflite.py` writes it beside every file (`<name>.md`, next to
`<name>.json`). It is Markdown with Hugging Face model-card front matter, so
that the folder of a file, its card and its JSON can be uploaded as a model
repository as is. Every figure on it comes from the report, and what it says
of the file (its input and output, its labels, which clients take it) from
what the report read off the file itself, not from the flags that made it:
nothing is estimated here, and no local path is published.
"""

import os

from swiftformer_keras.lite.report import CLIENT_NAMES
from swiftformer_keras.utils.tables import markdown_table

TOP_OPS = 8

# What the file takes, by `metadata.input_type_of`.
_INPUT_TEXT = {
    "float32": "RGB pixels in [0, 255] as float32; the file normalises them (ImageNet mean and std)",
    "uint8": "RGB pixels in [0, 255] as uint8 (camera bytes); the file normalises them",
    "normalized": "RGB images already normalised with ImageNet's mean and std ((pixel / 255 - mean) / std)",
    "quantized": "the normalised image, quantized with the input's scale and zero point",
    "quantized_pixels": "RGB pixels in [0, 255], quantized with the input's scale and zero point (uint8 at "
    "scale 1 and zero point 0: the pixels themselves, camera bytes)",
}


def _size(count):
    return f"{count / 1e6:.2f} MB"


def _percent(value):
    return f"{100 * value:.2f}%"


def _list(values):
    return ", ".join(str(value) for value in values) if values else "none"


def _front_matter(report):
    tags = ["tflite", "litert", "image-classification", "swiftformer", report["mode"]]
    if report["input"]["dtype"] == "uint8":
        tags.append("uint8-input")
    return [
        "---",
        "library_name: litert",
        "pipeline_tag: image-classification",
        "license: other",
        "tags:",
        *[f"- {tag}" for tag in tags],
        "---",
        "",
    ]


def _usage(report, file_name):
    described = report.get("metadata") or {}
    output = described.get("output") or next(
        iter((report.get("signatures") or {}).get("serving_default", {}).get("outputs", [])), "scores"
    )
    refused = report.get("clients_refuse") or {}
    lines = ["## Use it", ""]
    if refused.get("mediapipe") is None:
        carries = "its labels and normalisation" if described.get("labels") else "its normalisation (no labels)"
        lines += [
            f"Android, MediaPipe Tasks (`com.google.mediapipe:tasks-vision`; the file carries {carries}):",
            "",
            "```kotlin",
            f"val options = ImageClassifier.ImageClassifierOptions.builder().setBaseOptions(BaseOptions.builder()"
            f'.setModelAssetPath("{file_name}").build()).setMaxResults(5).build()',
            "val classifier = ImageClassifier.createFromOptions(context, options)",
            "val top = classifier.classify(BitmapImageBuilder(bitmap).build()).classificationResult()"
            ".classifications()[0].categories()",
            "```",
            "",
            "Python, MediaPipe Tasks:",
            "",
            "```python",
            "from mediapipe.tasks.python import BaseOptions, vision",
            f"classifier = vision.ImageClassifier.create_from_options(vision.ImageClassifierOptions("
            f'base_options=BaseOptions(model_asset_path="{file_name}"), max_results=5))',
            'top = classifier.classify(mediapipe.Image.create_from_file("photo.jpg")).classifications[0].categories',
            "```",
            "",
        ]
    for client, name in CLIENT_NAMES.items():
        if refused.get(client) is not None:
            lines += [f"{name} refuses this file: {refused[client]}.", ""]
    lines += [
        f"With the interpreter itself (LiteRT `CompiledModel` or `Interpreter`): signature "
        f"`serving_default`, input `image`, output `{output}`.",
        "",
    ]
    return lines


def _file_table(report):
    described = report.get("metadata") or {}
    labels = report.get("labels") or {}
    label_text = "none in the file"
    if described.get("labels"):
        first, last = described["labels_first_last"]
        label_text = f"{described['labels']} ({first} … {last}), in the metadata; {labels.get('source', '')}"
    recipe = report.get("recipe") or {}
    recipe_text = f"--min-runtime {report['min_runtime_asked']}: {report.get('activation', '')}"
    file_input, file_output = report["input"], report["output"]
    if recipe.get("reductions"):
        recipe_text += f"; attention sums as {recipe['reductions']}"
    if report.get("float_ops_kept"):
        recipe_text += f"; kept in float: {_list(report['float_ops_kept'])}"
    if recipe.get("float_first_conv") and file_input["dtype"] == "float32":
        recipe_text += "; the first convolution and the ops before it in float"
    ops = sorted(report["ops"].items(), key=lambda item: -item[1])
    op_text = ", ".join(f"{name} {count}" for name, count in ops[:TOP_OPS])
    if len(ops) > TOP_OPS:
        op_text += f", and {len(ops) - TOP_OPS} more kinds"
    weights = os.path.basename(report.get("weights") or "") or "those of the Keras model file"
    rows = [
        ("Model", report["model"]),
        ("Weights", f"{weights} (attention: {report.get('attention', 'l2')})"),
        ("Mode", report["mode"]),
        ("Recipe", recipe_text),
        (
            "Input",
            f"`{file_input['dtype']}` {tuple(file_input['shape'])}{_quantization(file_input)}: "
            f"{_INPUT_TEXT[file_input['type']]}; center crop {report['crop_pct']:g}",
        ),
        (
            "Output",
            f"`{file_output['dtype']}` {tuple(file_output['shape'])}{_quantization(file_output)}: "
            f"{described.get('output') or _signature_output(report)} "
            f"({report.get('classifier_activation', 'none')})",
        ),
        ("Labels", label_text),
        ("Metadata", "yes" if described else "none"),
        ("Android clients", _clients_text(report)),
        ("Size", _size(report["size_bytes"])),
        ("Ops", f"{report['op_count']}: {op_text}"),
        ("XNNPACK partitions", report["xnnpack_partitions"]),
        ("Minimum TFLite runtime", f"{report['min_runtime_needed']} (set by {_list(report['min_runtime_set_by'])})"),
        ("GPU delegate would refuse", _list(report["gpu_delegate_refuses"])),
        (
            "NNAPI would refuse",
            f"{_list(report['nnapi_refuses'])} (needs Android API {report['nnapi_min_android_api']})",
        ),
    ]
    return ["## The file", "", markdown_table(["", ""], rows), ""]


def _quantization(tensor):
    quantization = tensor.get("quantization")
    return f", scale {quantization['scale']:.6g}, zero point {quantization['zero_point']}" if quantization else ""


def _signature_output(report):
    outputs = (report.get("signatures") or {}).get("serving_default", {}).get("outputs") or ["scores"]
    return outputs[0]


def _clients_text(report):
    refused = report.get("clients_refuse") or {}
    return "; ".join(
        f"{name}: {'refuses it (' + refused[client] + ')' if refused.get(client) else 'takes it'}"
        for client, name in CLIENT_NAMES.items()
    )


def _fidelity(report):
    fidelity = report.get("fidelity")
    if not fidelity:
        return ["## Fidelity and accuracy", "", "Not measured (convert with `--eval-dir` to measure them).", ""]
    lines = [
        "## Fidelity and accuracy",
        "",
        f"On {fidelity['images']} held-out images of `{os.path.basename(os.path.normpath(fidelity['eval_dir']))}`, "
        "against the Keras model:",
        "",
    ]
    rows = [
        ("top-1 agreement", _percent(fidelity["top1_agreement"])),
        ("SQNR", f"{fidelity['sqnr_db']:.1f} dB"),
        ("max abs diff", f"{fidelity['max_abs_diff']:.3g}"),
        ("cosine similarity", f"{fidelity['cosine_similarity']:.6f}"),
    ]
    if "keras_top1" in fidelity:
        change = 100 * (fidelity["tflite_top1"] - fidelity["keras_top1"])
        rows += [
            ("top-1, Keras", _percent(fidelity["keras_top1"])),
            ("top-1, this file", f"{_percent(fidelity['tflite_top1'])} ({change:+.2f} points)"),
        ]
    return lines + [markdown_table(["", ""], rows), ""]


def _latency(report):
    latency = report.get("latency")
    if not latency:
        return [
            "## Latency",
            "",
            "Not measured here (`--latency-runs N` measures it on the host; `android_bench/run.py` on a phone).",
            "",
        ]
    return [
        "## Latency",
        "",
        f"Host, {latency['runtime']}, XNNPACK, {latency['threads']} threads, {latency['cpu']}: "
        f"median **{latency['median_ms']:.2f} ms** over {latency['runs']} runs.",
        "",
    ]


def model_card(report):
    """The card (Markdown text) of the file a conversion `report` describes."""
    file_name = os.path.basename(report["file"])
    described = report.get("metadata") or {}
    title = described.get("name") or os.path.splitext(file_name)[0]
    lines = _front_matter(report)
    lines += [f"# {title}: {report['mode']} TFLite", ""]
    lines += [
        f'`{file_name}`: SwiftFormer (Shaker et al., "SwiftFormer: Efficient Additive Attention for '
        'Transformer-based Real-time Mobile Vision Applications", ICCV 2023), converted by swiftformer-keras '
        "with TFLite builtin ops only.",
        "",
    ]
    lines += _usage(report, file_name)
    lines += _file_table(report)
    lines += _fidelity(report)
    lines += _latency(report)
    lines += ["## How it was made", ""]
    if report.get("command"):
        lines += ["```sh", report["command"], "```", ""]
    lines += [f"The full report is `{os.path.splitext(file_name)[0]}.json` beside this card.", ""]
    return "\n".join(lines)
