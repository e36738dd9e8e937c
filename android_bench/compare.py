"""Our TFLite files beside the other ways to run SwiftFormer, on this machine, in one run.

    python android_bench/compare.py --variants XS S L1 L3 --calib-dir ../shared/data/imagenet-samples/images

Per variant, one set of weights: a seeded random transformers SwiftFormer (the
PyTorch reference, Hugging Face layout, "softmax" attention like the hub
weights) is loaded into our Keras model through the project's own converter.
Routes, all timed round-robin in one loop (median, p5-p95), --threads threads:

- ours: Keras -> TFLite fp32, and full-integer int8 (calibrated on --calib-dir),
  LiteRT interpreter with XNNPACK;
- PyTorch eager (transformers), `torch.inference_mode`;
- ONNX Runtime on `torch.onnx.export`'s graph: fp32, and static int8 QDQ
  (`quantize_static`, per-channel, the same calibration images);
- litert-torch (PyTorch -> TFLite), when it is installed here or in the Python
  interpreter given with --litert-torch-python.

Prints a Markdown table with latency, ratios to ours, sizes and op counts
(TRANSPOSE ops especially), checks every route's logits against PyTorch's,
and writes compare.json, compare.csv and compare.png to --output-dir.
"""

import argparse
import csv
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from swiftformer_keras import calibration  # noqa: E402
from swiftformer_keras.files import write_atomically  # noqa: E402

OURS_FP32, OURS_INT8 = "ours TFLite fp32", "ours TFLite int8"
ORT_FP32, ORT_INT8 = "ONNX Runtime fp32", "ONNX Runtime int8 (QDQ)"
TORCH, LITERT_TORCH = "PyTorch eager", "litert-torch TFLite fp32"


def torch_reference(variant, seed=0):
    """A transformers SwiftFormer of `variant` with seeded random weights that matter
    (BatchNorm statistics, layer scales), in eval mode."""
    import torch
    from transformers import SwiftFormerConfig, SwiftFormerForImageClassification

    from swiftformer_keras.model import VARIANTS

    spec = VARIANTS[variant]
    torch.manual_seed(seed)
    model = SwiftFormerForImageClassification(
        SwiftFormerConfig(depths=list(spec["depths"]), embed_dims=list(spec["widths"]), num_labels=1000)
    ).eval()
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.copy_(torch.randn(module.num_features, generator=generator) * 0.2)
                module.running_var.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
            for name, parameter in module.named_parameters(recurse=False):
                if name.startswith("layer_scale"):
                    parameter.copy_(torch.rand(parameter.shape, generator=generator) * 0.5 + 0.5)
    return model


class Route:
    """One way to run the model: `run(image_nhwc)` -> logits, with its size and ops."""

    def __init__(self, name, run, size_mb=None, ops=None, transposes=None, error=None):
        self.name, self.run, self.size_mb, self.ops, self.transposes, self.error = (
            name, run, size_mb, ops, transposes, error
        )


def _tflite_route(name, path, threads):
    from swiftformer_keras.export import tflite_ops, tflite_runner

    predict = tflite_runner(path, num_threads=threads)
    ops = tflite_ops(path)
    return Route(name, predict, os.path.getsize(path) / 1e6, sum(ops.values()), ops.get("TRANSPOSE", 0))


def _onnx_route(name, path, threads):
    import onnx
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


class _Calibration:
    """ONNX Runtime's CalibrationDataReader over NHWC images."""

    def __init__(self, input_name, images):
        self.items = iter([{input_name: image[None].transpose(0, 3, 1, 2).copy()} for image in images])

    def get_next(self):
        return next(self.items, None)


def build_routes(variant, calib, folder, threads, size, litert_torch_python=None):
    """Every route of `variant`, sharing one set of weights."""
    import torch
    from safetensors.torch import save_file

    from swiftformer_keras.export import export_tflite
    from swiftformer_keras.model import SwiftFormer

    torch.set_num_threads(threads)
    reference = torch_reference(variant)
    state = os.path.join(folder, f"{variant}.safetensors")
    save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, state)
    keras_model = SwiftFormer(variant, weights=state, classifier_activation=None, input_shape=(*size, 3))

    def torch_run(images):
        with torch.inference_mode():
            return reference(torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))).logits.numpy()

    routes = [Route(TORCH, torch_run)]
    fp32 = export_tflite(keras_model, os.path.join(folder, f"{variant}_fp32.tflite"))
    int8 = export_tflite(keras_model, os.path.join(folder, f"{variant}_int8.tflite"), mode="int8", calibration=calib)
    routes += [_tflite_route(OURS_FP32, fp32, threads), _tflite_route(OURS_INT8, int8, threads)]

    onnx_fp32 = os.path.join(folder, f"{variant}_fp32.onnx")
    torch.onnx.export(
        reference, (torch.zeros(1, 3, *size),), onnx_fp32, opset_version=17, dynamo=False,
        input_names=["pixels"], output_names=["logits"],
    )
    routes.append(_onnx_route(ORT_FP32, onnx_fp32, threads))
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared = os.path.join(folder, f"{variant}_prepared.onnx")
    quant_pre_process(onnx_fp32, prepared)
    onnx_int8 = os.path.join(folder, f"{variant}_int8.onnx")
    quantize_static(
        prepared, onnx_int8, _Calibration("pixels", calib), quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, per_channel=True,
    )
    routes.append(_onnx_route(ORT_INT8, onnx_int8, threads))
    routes.append(_litert_torch_route(variant, state, folder, threads, size, litert_torch_python))
    return routes


# Converts the transformers SwiftFormer held in a safetensors file with litert-torch; run by
# the interpreter of --litert-torch-python (litert-torch pins packages, e.g. an older
# typing_extensions, that the project's environment should not take).
_LITERT_TORCH_SCRIPT = """
import sys, torch, litert_torch
from safetensors.torch import load_file
from transformers import SwiftFormerConfig, SwiftFormerForImageClassification
depths, widths, state, output, height, width = sys.argv[1:7]
model = SwiftFormerForImageClassification(SwiftFormerConfig(
    depths=[int(v) for v in depths.split(",")], embed_dims=[int(v) for v in widths.split(",")], num_labels=1000))
model.load_state_dict(load_file(state))
class Logits(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model
    def forward(self, pixels):
        return self.model(pixels).logits
litert_torch.convert(Logits(model).eval(), (torch.zeros(1, 3, int(height), int(width)),)).export(output)
"""


def _litert_torch_route(variant, state, folder, threads, size, python):
    import subprocess

    from swiftformer_keras.model import VARIANTS

    if python is None:
        try:
            import litert_torch  # noqa: F401
        except ImportError:
            return Route(LITERT_TORCH, None, error="litert-torch is not installed (see --litert-torch-python)")
        python = sys.executable
    spec = VARIANTS[variant]
    path = os.path.join(folder, f"{variant}_litert_torch.tflite")
    command = [python, "-c", _LITERT_TORCH_SCRIPT, ",".join(map(str, spec["depths"])),
               ",".join(map(str, spec["widths"])), state, path, str(size[0]), str(size[1])]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    except (OSError, subprocess.TimeoutExpired) as error:
        return Route(LITERT_TORCH, None, error=f"litert-torch did not run: {error}")
    if done.returncode != 0 or not os.path.exists(path):
        last = (done.stderr.strip().splitlines() or ["no output"])[-1][:200]
        return Route(LITERT_TORCH, None, error=f"litert-torch conversion failed: {last}")
    route = _tflite_route(LITERT_TORCH, path, threads)
    inner = route.run
    route.run = lambda images: inner(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
    return route


# ONNX Runtime's and PyTorch's worker threads keep spinning on the cores after a run, so the
# route after them pays for it: ours fp32 XS took 17 ms right after ONNX Runtime, 8-9 ms alone,
# and the tail outlasted two of our runs. Every route thus runs in short blocks whose first runs
# are not timed: all keep their default threading, none is timed in another's wake, and the
# blocks still alternate, so slow drifts of a shared machine hit every route alike.
BLOCK, UNTIMED = 6, 3


def time_interleaved(routes, image, runs, warmup, block=BLOCK, untimed=UNTIMED):
    """`{route name: [ms]}`, `runs` timed runs per route, in alternating blocks."""
    from tqdm import tqdm

    live = [r for r in routes if r.run is not None]
    for route in live:
        for _ in range(warmup):
            route.run(image)
    times = {r.name: [] for r in live}
    per_block = block - untimed
    for _ in tqdm(range(-(-runs // per_block)), desc="interleaved blocks", unit="round"):
        for route in live:
            for index in range(block):
                start = time.perf_counter()
                route.run(image)
                if index >= untimed and len(times[route.name]) < runs:
                    times[route.name].append((time.perf_counter() - start) * 1000)
    return times


def compare_variant(variant, calib, folder, threads, runs, warmup, size, litert_torch_python=None):
    routes = build_routes(variant, calib, folder, threads, size, litert_torch_python)
    probe = calib[:4]
    reference = routes[0].run(probe)
    times = time_interleaved(routes, calib[:1], runs, warmup)
    rows = []
    for route in routes:
        row = {"variant": variant, "route": route.name, "status": "ok" if route.run else "failed",
               "reason": route.error, "size_mb": route.size_mb, "ops": route.ops, "transposes": route.transposes}
        if route.run is not None:
            ms = np.asarray(times[route.name])
            logits = np.concatenate([route.run(image[None]) for image in probe])
            row.update({
                "median_ms": float(np.median(ms)), "p5_ms": float(np.percentile(ms, 5)),
                "p95_ms": float(np.percentile(ms, 95)),
                "max_abs_diff_vs_pytorch": float(np.abs(logits - reference).max()),
                "top1_agreement_vs_pytorch": float(np.mean(logits.argmax(1) == reference.argmax(1))),
            })
        rows.append(row)
    medians = {r["route"]: r.get("median_ms") for r in rows}
    for row in rows:
        for base, key in ((OURS_FP32, "vs_ours_fp32"), (OURS_INT8, "vs_ours_int8"), (ORT_FP32, "vs_ort_fp32")):
            if row.get("median_ms") and medians.get(base):
                row[key] = row["median_ms"] / medians[base]
    return rows


def targets(rows):
    """The issue's ratio targets, per variant, from one run's medians."""
    results = []
    for variant in dict.fromkeys(r["variant"] for r in rows):
        m = {r["route"]: r.get("median_ms") for r in rows if r["variant"] == variant}
        if not all(m.get(k) for k in (OURS_FP32, OURS_INT8, ORT_FP32, ORT_INT8)):
            continue
        results.append({
            "variant": variant,
            "ours fp32 faster than ORT fp32": m[OURS_FP32] < m[ORT_FP32],
            "ours int8 <= 0.5x ORT fp32": m[OURS_INT8] <= 0.5 * m[ORT_FP32],
            "ours int8 faster than ORT int8": m[OURS_INT8] < m[ORT_INT8],
        })
    return results


def _fmt(value, spec=".2f"):
    if value is None:
        return ""
    return format(value, spec) if isinstance(value, float) else str(value)


def markdown(rows):
    lines = [
        "| variant | route | median ms | p5-p95 ms | / ours fp32 | / ours int8 | / ORT fp32 | size MB | ops | TRANSPOSE | max abs diff vs PyTorch | status |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        spread = f"{r['p5_ms']:.2f}-{r['p95_ms']:.2f}" if r.get("p5_ms") is not None else ""
        lines.append(
            f"| {r['variant']} | {r['route']} | {_fmt(r.get('median_ms'))} | {spread} | {_fmt(r.get('vs_ours_fp32'))} "
            f"| {_fmt(r.get('vs_ours_int8'))} | {_fmt(r.get('vs_ort_fp32'))} | {_fmt(r.get('size_mb'), '.1f')} "
            f"| {_fmt(r.get('ops'))} | {_fmt(r.get('transposes'))} | {_fmt(r.get('max_abs_diff_vs_pytorch'), '.1e')} "
            f"| {r['status'] if not r.get('reason') else r['status'] + ': ' + r['reason']} |"
        )
    return "\n".join(lines)


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib import pyplot as plt

    variants = list(dict.fromkeys(r["variant"] for r in rows))
    names = list(dict.fromkeys(r["route"] for r in rows if r.get("median_ms")))
    fig, ax = plt.subplots(figsize=(8, 4.5))
    width = 0.8 / max(1, len(names))
    for i, name in enumerate(names):
        values = [next((r["median_ms"] for r in rows if r["variant"] == v and r["route"] == name and r.get("median_ms")), 0)
                  for v in variants]
        ax.bar(np.arange(len(variants)) + i * width, values, width, label=name)
    ax.set_xticks(np.arange(len(variants)) + width * (len(names) - 1) / 2, [f"SwiftFormer-{v}" for v in variants])
    ax.set_ylabel("median latency per image, ms (lower is better)")
    ax.set_title("Interleaved runs on one machine")
    ax.legend(fontsize=8)
    fig.tight_layout()
    write_atomically(path, lambda temp: fig.savefig(temp, format="png", dpi=120), ".png")
    plt.close(fig)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=["XS", "S", "L1", "L3"])
    parser.add_argument("--calib-dir", required=True, help="real photos for int8 calibration (both int8 routes)")
    parser.add_argument("--num-calib", type=int, default=64)
    parser.add_argument("--input-size", type=int, nargs=2, default=(224, 224), metavar=("H", "W"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--output-dir", default="compare_results")
    parser.add_argument("--litert-torch-python", help="a Python interpreter with litert-torch, transformers "
                        "and safetensors installed (kept apart from this environment)")
    args = parser.parse_args(argv)
    from swiftformer_keras.model import VARIANTS

    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; use {', '.join(VARIANTS)}")
    try:
        os.makedirs(args.output_dir, exist_ok=True)
        size = tuple(args.input_size)
        calib, _ = calibration.sample_images(args.calib_dir, args.num_calib, size, progress="calibration images")
        rows = []
        with tempfile.TemporaryDirectory(prefix="swiftformer_compare_") as folder:
            for variant in args.variants:
                rows += compare_variant(
                    variant, calib, folder, args.threads, args.runs, args.warmup, size, args.litert_torch_python
                )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(markdown(rows))
    checked = targets(rows)
    for target in checked:
        print(" ".join(f"{k}: {v}" for k, v in target.items()))
    result = {"command": " ".join(["python android_bench/compare.py", *argv]), "threads": args.threads,
              "runs": args.runs, "rows": rows, "targets": checked}

    def write_json(temp):
        with open(temp, "w") as file:
            json.dump(result, file, indent=2)

    def write_csv(temp):
        keys = list(dict.fromkeys(k for row in rows for k in row))
        with open(temp, "w", newline="") as file:
            writer = csv.DictWriter(file, keys)
            writer.writeheader()
            writer.writerows(rows)

    write_atomically(os.path.join(args.output_dir, "compare.json"), write_json)
    write_atomically(os.path.join(args.output_dir, "compare.csv"), write_csv)
    plot(rows, os.path.join(args.output_dir, "compare.png"))
    print(f"\nwrote {args.output_dir}/compare.json, .csv, .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
