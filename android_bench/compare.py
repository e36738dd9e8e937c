"""Our TFLite files beside the other ways to run SwiftFormer, on this machine, in one run.

    python android_bench/compare.py --variants XS S L1 L3 --calib-dir ../shared/data/imagenet-samples/images

Per variant, one set of weights: a seeded random transformers SwiftFormer (the
PyTorch reference, Hugging Face layout, "softmax" attention like the hub
weights) is loaded into our Keras model through the project's own converter.
With --keras-model (a trained SwiftFormer, e.g. the CIFAR-10 reference model)
the trained weights go the other way, into the PyTorch reference, and
--eval-dir (one folder per class) adds every route's top-1 accuracy.
Routes, all timed round-robin in one loop (median, p5-p95), --threads threads:

- ours: Keras -> TFLite fp32, and full-integer int8 (calibrated on --calib-dir),
  LiteRT interpreter with XNNPACK;
- PyTorch eager (transformers), `torch.inference_mode`;
- ONNX Runtime on `torch.onnx.export`'s graph: fp32, and static int8 QDQ
  (`quantize_static`, per-channel, the same calibration images);
- litert-torch (PyTorch -> TFLite), when it is installed here or in the Python
  interpreter given with --litert-torch-python;
- ExecuTorch with XNNPACK (`executorch.runtime`, --threads threads), when it is installed
  (requirements-executorch.txt): fp32, and int8 through PT2E with the XNNPACK quantizer
  (the same calibration images), each in two export forms: the transformers model as a
  user exports it, and rewritten into ops XNNPACK takes (one delegate partition; see
  android_bench/executorch_export.py). --executorch fp32 leaves out the int8 programs,
  whose lowering takes minutes.

Prints a Markdown table with latency, ratios to ours, sizes and op counts
(TRANSPOSE ops especially), checks every route's logits against PyTorch's,
prints our latency over ONNX Runtime's as measured in this run, and writes
compare.json, compare.csv, compare.png and compare.md (its results page) to --output-dir; ExecuTorch rows also give
their XNNPACK delegate partitions and the ops left outside them. The routes are built by
android_bench/routes.py; the PyTorch side (the reference, its weights and exports) is
android_bench/torch_reference.py; litert-torch runs android_bench/litert_torch_export.py
(in --litert-torch-python), ExecuTorch android_bench/executorch_export.py.

Every flag, the input files and folders and the outputs (none may be an input or lie
inside an input folder) are checked before TensorFlow and PyTorch start; an expected
failure is one line `android_bench/compare.py: error: ...` and exit code 2.
"""

import argparse
import functools
import os
import shutil
import sys
import tempfile

import numpy as np
from tqdm import tqdm

from android_bench import torch_reference
from android_bench.routes import (
    EXECUTORCH_ROUTES,
    ORT_FP32,
    ORT_INT8,
    OURS_FP32,
    OURS_INT8,
    TORCH,
    Shared,
    build_routes,
)
from swiftformer_keras.lite import calibration, interpreter
from swiftformer_keras.models.architecture import MIN_INPUT_SIZE, VARIANTS, check_image_size, variant_name
from swiftformer_keras.utils import charts, cli, files
from swiftformer_keras.utils.images import recorded_class_names, resolve_crop_pct
from swiftformer_keras.utils.tables import markdown_table, results_page
from swiftformer_keras.weights import checkpoints

# Only light modules above: TensorFlow (Keras) and PyTorch load in the functions that use them,
# after `_main` has checked every flag, so that --help and bad input answer at once.

PROG = "android_bench/compare.py"
# The speed ratios printed and kept in compare.json: (numerator route, denominator route).
RATIOS = {
    "ours fp32 / ORT fp32": (OURS_FP32, ORT_FP32),
    "ours int8 / ORT fp32": (OURS_INT8, ORT_FP32),
    "ours int8 / ORT int8": (OURS_INT8, ORT_INT8),
}


def random_weights(variant, folder, size):
    """`Shared` seeded random weights of `variant`, made in PyTorch and converted to Keras."""
    from swiftformer_keras.applications import SwiftFormer  # Keras (TensorFlow): see the imports at the top

    spec = VARIANTS[variant]
    reference = torch_reference.random_reference(spec["depths"], spec["widths"])
    path = torch_reference.save_safetensors(reference, os.path.join(folder, f"{variant}.safetensors"))
    model = SwiftFormer(variant, weights=path, classifier_activation=None, input_shape=(*size, 3))
    return Shared(reference, model, path, (spec["depths"], spec["widths"], 1000, "softmax"))


def reference_from_keras(model):
    """`(reference, (depths, widths, classes, attention))`: the PyTorch reference holding the
    weights of a Keras SwiftFormer classifier (e.g. a trained one)."""
    import keras  # TensorFlow: see the imports at the top

    from swiftformer_keras.weights import keras_files

    state = {v.path: keras.ops.convert_to_numpy(v) for v in model.weights}
    if "classifier/head/kernel" not in state:
        raise ValueError("The Keras model has no classifier head; compare.py needs a full classification model.")
    depths, widths = checkpoints.keras_architecture(state)
    architecture = (depths, widths, int(state["classifier/head/kernel"].shape[-1]), keras_files.model_attention(model))
    reference = torch_reference.swiftformer(*architecture)
    checkpoint = checkpoints.keras_to_checkpoint(state, reference.state_dict())
    return torch_reference.load_numpy_state(reference, checkpoint), architecture


def keras_weights(model, folder):
    """`Shared` weights of a Keras SwiftFormer (e.g. trained), exported into the PyTorch reference."""
    reference, architecture = reference_from_keras(model)
    path = torch_reference.save_safetensors(reference, os.path.join(folder, "keras_model.safetensors"))
    return Shared(reference, model, path, architecture)


def export_ours(name, model, calib, folder):
    """Our `(fp32, int8)` `.tflite` files of the Keras `model` (int8 calibrated on `calib`)."""
    from swiftformer_keras.lite.converter import export_tflite  # TensorFlow: see the imports at the top

    fp32 = export_tflite(model, os.path.join(folder, f"{name}_fp32.tflite"))
    int8 = export_tflite(model, os.path.join(folder, f"{name}_int8.tflite"), mode="int8", calibration=calib)
    return fp32, int8


def time_interleaved(routes, image, runs, warmup):
    """`{route name: [ms]}`, `runs` timed runs per route, in alternating blocks whose first runs are
    not timed (`interpreter.BLOCK`): every route keeps its default threading, and none is timed in
    another's wake."""
    live = {route.name: functools.partial(route.run, image) for route in routes if route.run is not None}
    return interpreter.time_interleaved(live, runs, warmup, progress=True)


def _predict(route, images):
    batches = tqdm(images, desc=f"scoring {route.name}", unit="image", disable=len(images) <= 16, leave=False)
    return np.concatenate([route.run(image[None]) for image in batches])


def compare_model(
    name,
    shared,
    calib,
    folder,
    threads,
    runs,
    warmup,
    size,
    litert_torch_python=None,
    evaluation=None,
    executorch="all",
):
    """The rows of one model: every route timed, and its logits checked against PyTorch's
    on `evaluation` `(images, labels or None)` (with labels, also scored), else on four
    calibration images."""
    cli.check_number("runs", runs, minimum=1, integer=True)  # before the exports: no timing is no row
    cli.check_number("warmup", warmup, minimum=0, integer=True)
    ours = export_ours(name, shared.model, calib, folder)
    routes = build_routes(name, shared, ours, calib, folder, threads, size, litert_torch_python, executorch)
    probe, labels = evaluation if evaluation is not None else (calib[:4], None)
    times = time_interleaved(routes, calib[:1], runs, warmup)
    outputs = {route.name: _predict(route, probe) for route in routes if route.run is not None}
    rows = [
        _row(name, route, times.get(route.name), outputs.get(route.name), outputs[TORCH], labels) for route in routes
    ]
    medians = {r["route"]: r.get("median_ms") for r in rows}
    for row in rows:
        for base, key in ((OURS_FP32, "vs_ours_fp32"), (OURS_INT8, "vs_ours_int8"), (ORT_FP32, "vs_ort_fp32")):
            if row.get("median_ms") and medians.get(base):
                row[key] = row["median_ms"] / medians[base]
    return rows


def _row(name, route, ms, logits, reference, labels):
    """The row of one route of the model `name`: its timings `ms` and `logits` against PyTorch's
    `reference` (and, with `labels`, its top-1); a route that did not build is a failed row."""
    row = {
        "variant": name,
        "route": route.name,
        "status": "ok" if route.run else "failed",
        "reason": route.error,
        "size_mb": route.size_mb,
        "ops": route.ops,
        "transposes": route.transposes,
    }
    if route.partitions is not None:
        row.update({"partitions": route.partitions, "ops_outside": route.ops_outside})
    if route.run is None:
        return row
    ms = np.asarray(ms)
    row.update(
        {
            "median_ms": float(np.median(ms)),
            "p5_ms": float(np.percentile(ms, 5)),
            "p95_ms": float(np.percentile(ms, 95)),
            "max_abs_diff_vs_pytorch": float(np.abs(logits - reference).max()),
            "top1_agreement_vs_pytorch": float(np.mean(logits.argmax(1) == reference.argmax(1))),
            "checked_images": len(logits),
        }
    )
    if labels is not None:
        row["top1"] = float(np.mean(logits.argmax(1) == labels))
    return row


def ratios(rows):
    """Per variant, our median latency over ONNX Runtime's as measured in this run (below 1: ours
    is faster); variants without all four of these routes timed are left out."""
    results = []
    for variant in dict.fromkeys(r["variant"] for r in rows):
        m = {r["route"]: r.get("median_ms") for r in rows if r["variant"] == variant}
        if all(m.get(k) for k in (OURS_FP32, OURS_INT8, ORT_FP32, ORT_INT8)):
            results.append({"variant": variant, **{key: m[top] / m[bottom] for key, (top, bottom) in RATIOS.items()}})
    return results


def speed_checks(measured):
    """Yes/no readings of `ratios(...)`, kept in compare.json as "targets"."""
    return [
        {
            "variant": r["variant"],
            "ours fp32 faster than ORT fp32": r["ours fp32 / ORT fp32"] < 1,
            "ours int8 <= 0.5x ORT fp32": r["ours int8 / ORT fp32"] <= 0.5,
            "ours int8 faster than ORT int8": r["ours int8 / ORT int8"] < 1,
        }
        for r in measured
    ]


def _fmt(value, spec=".2f"):
    if value is None:
        return ""
    return format(value, spec) if isinstance(value, float) else str(value)


def _partitions(row):
    """ "22 (62: pow.Tensor_Scalar 24, sum.dim_IntList 16, ...)": partitions, then the ops left outside."""
    if row.get("partitions") is None:
        return ""
    outside = row["ops_outside"]
    if not outside:
        return f"{row['partitions']} (0)"
    listed = ", ".join(f"{op} {count}" for op, count in sorted(outside.items(), key=lambda item: -item[1]))
    return f"{row['partitions']} ({sum(outside.values())}: {listed})"


def markdown(rows):
    """The comparison as a Markdown table, a row per (model, route); a top-1 column when routes were scored."""
    scored = any("top1" in r for r in rows)
    header = [
        "variant",
        "route",
        "median ms",
        "p5-p95 ms",
        "/ ours fp32",
        "/ ours int8",
        "/ ORT fp32",
        "size MB",
        "ops",
        "TRANSPOSE",
        "XNNPACK partitions (ops outside)",
        "max abs diff vs PyTorch",
        "top-1 agreement vs PyTorch",
        *(["top-1"] if scored else []),
        "status",
    ]
    cells = []
    for r in rows:
        spread = f"{r['p5_ms']:.2f}-{r['p95_ms']:.2f}" if r.get("p5_ms") is not None else ""
        agreement = f"{100 * r['top1_agreement_vs_pytorch']:.2f}%" if "top1_agreement_vs_pytorch" in r else ""
        top1 = [f"{100 * r['top1']:.2f}%" if "top1" in r else ""] if scored else []
        status = r["status"] if not r.get("reason") else f"{r['status']}: {r['reason']}"
        cells.append(
            [
                r["variant"],
                r["route"],
                _fmt(r.get("median_ms")),
                spread,
                _fmt(r.get("vs_ours_fp32")),
                _fmt(r.get("vs_ours_int8")),
                _fmt(r.get("vs_ort_fp32")),
                _fmt(r.get("size_mb"), ".1f"),
                _fmt(r.get("ops")),
                _fmt(r.get("transposes")),
                _partitions(r),
                _fmt(r.get("max_abs_diff_vs_pytorch"), ".1e"),
                agreement,
                *top1,
                status,
            ]
        )
    return markdown_table(header, cells, align="ll" + "r" * (11 + scored) + "l")


def plot(rows, path):
    """compare.png: each route's median latency per model, as grouped bars."""
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    names = list(dict.fromkeys(r["route"] for r in rows if r.get("median_ms")))
    series = {
        name: [
            next(
                (r["median_ms"] for r in rows if r["variant"] == v and r["route"] == name and r.get("median_ms")), None
            )
            for v in variants
        ]
        for name in names
    }
    charts.grouped_bars(
        path,
        [f"SwiftFormer-{v}" for v in variants],
        series,
        "median latency per image, ms (lower is better)",
        "Interleaved runs on one machine",
    )


def main(argv=None):
    """The command line; every expected failure is one line on stderr and exit code 2."""
    return cli.run(_main, sys.argv[1:] if argv is None else argv, prog=PROG)


def _parse_args(argv):
    parser = cli.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    count = cli.number(int, minimum=1)
    parser.add_argument(
        "--variants", nargs="+", type=str.upper, help="XS S L1 L3 (the default: all) with seeded random weights"
    )
    parser.add_argument(
        "--keras-model",
        help="a trained SwiftFormer .keras file instead of --variants: its "
        "weights are exported into the PyTorch reference, so every route runs them",
    )
    # Required, checked below: a mistyped flag is then reported as such rather than as --calib-dir missing.
    parser.add_argument("--calib-dir", help="real photos for int8 calibration (both int8 routes); required")
    parser.add_argument("--num-calib", type=count, default=64)
    parser.add_argument(
        "--eval-dir",
        help="labelled images (one folder per class of the model) on which every "
        "route is scored: top-1 and agreement with PyTorch",
    )
    parser.add_argument("--num-eval", type=count, default=1000)
    parser.add_argument(
        "--crop-pct",
        type=cli.number(float, above=0, maximum=1),
        default=None,
        help="center-crop fraction of the preprocessing (default: the one a --keras-model "
        "trained by the project records, else ImageNet's 0.875)",
    )
    parser.add_argument(
        "--input-size",
        type=cli.number(int, minimum=MIN_INPUT_SIZE),
        nargs=2,
        metavar=("H", "W"),
        help="multiples of 32; default: the --keras-model's own size, else 224 224",
    )
    # The runtimes take the thread count as a C++ int.
    parser.add_argument("--threads", type=cli.number(int, minimum=1, maximum=2**31 - 1), default=2)
    parser.add_argument("--runs", type=count, default=50)
    parser.add_argument("--warmup", type=cli.number(int, minimum=0), default=5)
    parser.add_argument("--output-dir", default="compare_results")
    parser.add_argument(
        "--litert-torch-python",
        help="a Python interpreter with litert-torch, transformers "
        "and safetensors installed (kept apart from this environment)",
    )
    parser.add_argument(
        "--executorch",
        choices=list(EXECUTORCH_ROUTES),
        default="all",
        help="ExecuTorch routes: all four, the two fp32 ones (int8 lowering takes minutes), or none",
    )
    args = parser.parse_args(argv)
    if args.calib_dir is None:
        parser.error("the following arguments are required: --calib-dir")
    if args.keras_model and args.variants:
        parser.error("give --variants (random weights) or --keras-model (trained weights), not both")
    unknown = [v for v in args.variants or () if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; use {', '.join(VARIANTS)}")
    return args


def _check_inputs(args):
    """Refuses, before any model is built, what would fail later: missing files and folders,
    unusable sizes, and outputs that would land on or inside an input. Returns the output
    files, `{"compare.json": path, ...}`."""
    if args.input_size is not None:
        try:
            args.input_size = check_image_size(tuple(args.input_size))
        except ValueError as error:
            raise ValueError(f"--input-size: {error}") from None
    if args.keras_model is not None and not os.path.isfile(args.keras_model):
        raise ValueError(f"--keras-model {args.keras_model!r} does not exist; give a .keras file.")
    calibration.find_images(args.calib_dir)
    if args.eval_dir is not None:
        paths, _ = calibration.find_images(args.eval_dir)
        # Folders that are partly the model's class names: refused now, not after the exports.
        calibration.class_labels(paths, args.eval_dir, args.class_names)
    if args.litert_torch_python is not None and shutil.which(args.litert_torch_python) is None:
        raise ValueError(
            f"--litert-torch-python {args.litert_torch_python!r} is not an executable; give the "
            "python of an environment with litert-torch, transformers and safetensors."
        )
    inputs = [("--calib-dir", args.calib_dir), ("--eval-dir", args.eval_dir), ("--keras-model", args.keras_model)]
    files.check_output_folder("--output-dir", args.output_dir, inputs=inputs)
    files.check_output_paths(*files.benchmark_result_paths(args.output_dir, "compare"), inputs=inputs)


def _main(argv):
    args = _parse_args(argv)
    args.crop_pct = resolve_crop_pct(args.crop_pct, args.keras_model)
    # A trained model's class names match --eval-dir's folders by name (None: numbered).
    args.class_names = recorded_class_names(args.keras_model) if args.keras_model else None
    _check_inputs(args)
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # our files are converted by TensorFlow
    with cli.quiet_startup():
        # TensorFlow and PyTorch start only now, every flag checked: --help and bad input answer at once.
        import transformers  # noqa: F401  (PyTorch, and torchao, which logs as it loads)

        from swiftformer_keras.lite.pipeline import load_eval_set
    variants = args.variants or list(VARIANTS)
    rows = []
    # Working files go to the temporary folder, named and swept like every partial.
    with files.partial_folder(os.path.join(tempfile.gettempdir(), "swiftformer_compare")) as folder:
        calib_by_size = {}
        for name, shared, size in _models(args, variants, folder):
            if size not in calib_by_size:
                calib_by_size[size], _ = calibration.sample_images(
                    args.calib_dir, args.num_calib, size, args.crop_pct, progress="calibration images"
                )
            calib = calib_by_size[size]
            evaluation = None
            if args.eval_dir:
                images, labels, _ = load_eval_set(
                    args.eval_dir,
                    args.num_eval,
                    size,
                    args.crop_pct,
                    shared.architecture[2],
                    class_names=args.class_names,
                )
                evaluation = (images, labels)
            rows += compare_model(
                name,
                shared,
                calib,
                folder,
                args.threads,
                args.runs,
                args.warmup,
                size,
                args.litert_torch_python,
                evaluation,
                args.executorch,
            )
    table = markdown(rows)
    print(table)
    measured = ratios(rows)
    ratio_lines = [
        f"{ratio['variant']}: " + ", ".join(f"{k} {v:.2f}" for k, v in ratio.items() if k != "variant")
        for ratio in measured
    ]
    if measured:
        ratio_lines.insert(
            0, "Ratios measured in this run (our median latency / ONNX Runtime's; below 1: ours is faster):"
        )
        print("\n" + "\n".join(ratio_lines))
    command = " ".join(["python android_bench/compare.py", *argv])
    page = results_page(
        "Every way to run SwiftFormer, side by side",
        command,
        f"{interpreter.cpu_name(count=True)}, {args.threads} thread(s)",
        [("routes", table), ("ratios", "\n\n".join(ratio_lines))] if measured else [("routes", table)],
        chart="compare.png",
        notes=("Medians of interleaved turns on one set of weights per variant; x86 timings.",),
    )
    result = {
        "command": command,
        "threads": args.threads,
        "runs": args.runs,
        "rows": rows,
        "ratios": measured,
        "targets": speed_checks(measured),
    }

    files.write_benchmark_result(args.output_dir, "compare", result, rows, page, plot=lambda temp: plot(rows, temp))
    print(f"\nwrote {args.output_dir}/compare.json, .csv, .png, .md")
    return 0


def _models(args, variants, folder):
    """Yields `(name, Shared, (height, width))` for each model to compare, as the arguments ask.

    A --keras-model's logits are compared: `load_keras_model` removes a softmax at its end, as
    every other route gives logits.
    """
    if args.keras_model:
        from swiftformer_keras.lite.pipeline import load_keras_model  # TensorFlow: see the imports at the top

        model, size = load_keras_model(keras_model=args.keras_model, input_size=args.input_size)
        shared = keras_weights(model, folder)
        name = variant_name(*shared.architecture[:2]).removeprefix("SwiftFormer-")
        yield f"{name} {size[0]}x{size[1]} ({os.path.basename(args.keras_model)})", shared, size
        return
    size = tuple(args.input_size or (224, 224))
    for variant in variants:
        yield variant, random_weights(variant, folder, size), size


if __name__ == "__main__":
    sys.exit(main())
