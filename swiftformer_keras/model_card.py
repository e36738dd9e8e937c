"""The model card of a converted file: its conversion report as a page people read.

    text = model_card(report)          # report: conversion.convert_swiftformer's dict

`conversion/to_tflite.py` writes it beside every file (`<name>.md`, next to
`<name>.json`). It is Markdown with Hugging Face model-card front matter, so
that the folder of a file, its card and its JSON can be uploaded as a model
repository as is. Every figure on it comes from the report: nothing is
estimated here.
"""

import os

TOP_OPS = 8

_INPUT_TEXT = {
    "float32": "RGB pixels in [0, 255] as float32; the file normalises them (ImageNet mean and std)",
    "uint8": "RGB pixels in [0, 255] as uint8 (camera bytes); the file normalises them",
    "normalized": "RGB images already normalised with ImageNet's mean and std ((pixel / 255 - mean) / std)",
}


def _size(count):
    return f"{count / 1e6:.2f} MB"


def _percent(value):
    return f"{100 * value:.2f}%"


def _list(values):
    return ", ".join(str(value) for value in values) if values else "none"


def _front_matter(report):
    tags = ["tflite", "litert", "image-classification", "swiftformer", report["mode"]]
    if report.get("input_type") == "uint8":
        tags.append("uint8-input")
    return ["---", "library_name: litert", "pipeline_tag: image-classification", "license: other",
            "tags:", *[f"- {tag}" for tag in tags], "---", ""]


def _usage(report, file_name):
    output = (report.get("metadata") or {}).get("output") or "scores"
    return [
        "## Use it",
        "",
        "Android, MediaPipe Tasks (`com.google.mediapipe:tasks-vision`; the file carries its labels and "
        "normalisation):",
        "",
        "```kotlin",
        f'val options = ImageClassifier.ImageClassifierOptions.builder().setBaseOptions(BaseOptions.builder()'
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
        f'classifier = vision.ImageClassifier.create_from_options(vision.ImageClassifierOptions('
        f'base_options=BaseOptions(model_asset_path="{file_name}"), max_results=5))',
        "top = classifier.classify(mediapipe.Image.create_from_file(\"photo.jpg\")).classifications[0].categories",
        "```",
        "",
        f"With the interpreter itself: signature `serving_default`, input `image`, output `{output}`.",
        "",
    ]


def _file_table(report):
    described = report.get("metadata") or {}
    labels = report.get("labels") or {}
    label_text = "none"
    if labels.get("count"):
        label_text = f"{labels['count']} ({labels['first']} … {labels['last']}); {labels['source']}"
    elif labels.get("source"):
        label_text = labels["source"]
    recipe = report.get("recipe") or {}
    recipe_text = f"--min-runtime {report['min_runtime_asked']}: {report.get('activation', '')}"
    if recipe.get("reductions"):
        recipe_text += f"; attention sums as {recipe['reductions']}"
    if report.get("float_ops_kept"):
        recipe_text += f"; kept in float: {_list(report['float_ops_kept'])}"
    if recipe.get("float_first_conv") and report.get("io") == "float32":
        recipe_text += "; the first convolution and the ops before it in float"
    ops = sorted(report["ops"].items(), key=lambda item: -item[1])
    op_text = ", ".join(f"{name} {count}" for name, count in ops[:TOP_OPS])
    if len(ops) > TOP_OPS:
        op_text += f", and {len(ops) - TOP_OPS} more kinds"
    weights = report.get("weights") or "those of the Keras model file"
    rows = [
        ("Model", report["model"]),
        ("Weights", f"{weights} (attention: {report.get('attention', 'l2')})"),
        ("Mode", f"{report['mode']}" + (f", int8 tensors in/out: {report['io']}" if report["mode"] == "int8" else "")),
        ("Recipe", recipe_text),
        ("Input", f"`{report['input']['dtype']}` {tuple(report['input']['shape'])}: "
                  f"{_INPUT_TEXT.get(report.get('input_type', 'normalized'))}; "
                  f"center crop {report['crop_pct']:g}"),
        ("Output", f"`{report['output']['dtype']}` {tuple(report['output']['shape'])}: "
                   f"{described.get('output') or 'scores'} ({report.get('classifier_activation', 'none')})"),
        ("Labels", label_text),
        ("Metadata", "yes: Task Library and MediaPipe read it" if described else "none (--no-metadata)"),
        ("Size", _size(report["size_bytes"])),
        ("Ops", f"{report['op_count']}: {op_text}"),
        ("XNNPACK partitions", report["xnnpack_partitions"]),
        ("Minimum TFLite runtime", f"{report['min_runtime_needed']} (set by {_list(report['min_runtime_set_by'])})"),
        ("GPU delegate would refuse", _list(report["gpu_delegate_refuses"])),
        ("NNAPI would refuse", f"{_list(report['nnapi_refuses'])} (needs Android API {report['nnapi_min_android_api']})"),
    ]
    lines = ["## The file", "", "| | |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    return lines + [""]


def _fidelity(report):
    fidelity = report.get("fidelity")
    if not fidelity:
        return ["## Fidelity and accuracy", "", "Not measured (convert with `--eval-dir` to measure them).", ""]
    lines = [
        "## Fidelity and accuracy",
        "",
        f"On {fidelity['images']} held-out images of `{fidelity['eval_dir']}`, against the Keras model:",
        "",
        "| | |",
        "|---|---|",
        f"| top-1 agreement | {_percent(fidelity['top1_agreement'])} |",
        f"| SQNR | {fidelity['sqnr_db']:.1f} dB |",
        f"| max abs diff | {fidelity['max_abs_diff']:.3g} |",
        f"| cosine similarity | {fidelity['cosine_similarity']:.6f} |",
    ]
    if "keras_top1" in fidelity:
        lines += [
            f"| top-1, Keras | {_percent(fidelity['keras_top1'])} |",
            f"| top-1, this file | {_percent(fidelity['tflite_top1'])} "
            f"({100 * (fidelity['tflite_top1'] - fidelity['keras_top1']):+.2f} points) |",
        ]
    return lines + [""]


def _latency(report):
    latency = report.get("latency")
    if not latency:
        return ["## Latency", "", "Not measured here (`--latency-runs N` measures it on the host; "
                "`android_bench/run.py` on a phone).", ""]
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
    lines = _front_matter(report)
    lines += [f"# {described.get('name') or report['model']}: {report['mode']} TFLite", ""]
    lines += [f"`{file_name}`: SwiftFormer (Shaker et al., \"SwiftFormer: Efficient Additive Attention for "
              "Transformer-based Real-time Mobile Vision Applications\", ICCV 2023), converted by swiftformer-keras "
              "with TFLite builtin ops only.", ""]
    lines += _usage(report, file_name)
    lines += _file_table(report)
    lines += _fidelity(report)
    lines += _latency(report)
    lines += ["## How it was made", ""]
    if report.get("command"):
        lines += ["```sh", report["command"], "```", ""]
    lines += [f"The full report is `{os.path.splitext(file_name)[0]}.json` beside this card.", ""]
    return "\n".join(lines)
