"""The PyTorch reference SwiftFormer as ExecuTorch programs (XNNPACK), and their host runner.

    python android_bench/executorch_export.py --depths 3,3,6,4 --widths 48,56,112,220 \\
        --weights XS.safetensors --output xs.pte [--rewrite] [--calibration images.npy] \\
        [--classes 1000] [--attention softmax] [--input-size 224 224]

ExecuTorch with its XNNPACK delegate is what a PyTorch user picks to put SwiftFormer on a
phone. compare.py times its programs beside ours, in two export forms:

- as a user exports it: the transformers model as is. XNNPACK has no kernel for
  `F.normalize`'s `pow(0.5)` and `sum`, for the sum over tokens, the `repeat` (expand)
  of the global query, its `unsqueeze`, nor for a 3-D mean (the head's token pooling),
  so the graph falls apart into many delegate partitions, with portable ops between them;
- rewritten (`rewrite`): the same arithmetic in ops XNNPACK takes, so that the whole graph
  is one partition: `v * rsqrt(clamp(sum(v * v)))` with the channel sum as a matmul by a
  ones vector, token sums as a batched matmul (`scores^T @ query`), the global query
  broadcast rather than repeated, a 4-D mean, and `* 0.5` for `/ 2` (an integer divisor
  becomes a constant cast outside the delegate). The logits equal the original's to
  float round-off.

fp32 programs, or int8 through PT2E with the XNNPACK quantizer (symmetric, per-channel
weights), calibrated on the images given. Lowering takes seconds (fp32) to minutes (int8
at 224x224); torchao prints harmless warnings on import.

Flags, the weights file and the calibration images are checked before PyTorch starts,
weights of another architecture before the export; an expected failure is one line
`android_bench/executorch_export.py: error: ...` and exit code 2.
"""

import argparse
import collections
import copy
import json
import sys

import numpy as np

from android_bench import torch_reference
from swiftformer_keras.utils import cli, files

PROG = "android_bench/executorch_export.py"
EPSILON = 1e-12  # F.normalize's: v / max(|v|, eps) == v * rsqrt(max(|v|^2, eps^2))


def _normalize(v, ones):
    """`F.normalize(v, dim=-1)`, with the channel sum as a matmul by `ones` (channels, 1)."""
    import torch

    return v * torch.rsqrt(torch.clamp((v * v) @ ones, min=EPSILON**2))


def _token_sum(weights, values):
    """`sum(weights * values, dim=1, keepdim=True)` over tokens, for (B, N, 1) weights: one bmm.
    `torch.bmm`, not `@`: a 3-D `@` exports with an `expand` of each side, outside XNNPACK."""
    import torch

    return torch.bmm(weights.transpose(1, 2), values)


def rewritten_attention(self, x):
    """transformers' ("softmax") attention, on (B, N, D) tokens, in ops XNNPACK takes."""
    query = _normalize(self.to_query(x), self.ones)
    key = _normalize(self.to_key(x), self.ones)
    scores = (query @ self.w_g * self.scale_factor).softmax(dim=-1)
    return self.final(self.proj(_token_sum(scores, query) * key) + query)  # broadcast over tokens, no repeat


def rewritten_l2_attention(self, x):
    """`torch_reference.official_l2_attention` in ops XNNPACK takes."""
    import torch

    query = _normalize(self.to_query(x), self.ones)
    key = _normalize(self.to_key(x), self.ones)
    scores = query @ self.w_g * self.scale_factor
    scores = scores * torch.rsqrt(torch.clamp(_token_sum(scores, scores), min=EPSILON**2))  # over tokens
    return self.final(self.proj(_token_sum(scores, query) * key) + query)


def rewrite(model):
    """A copy of the transformers `model` whose attention blocks run `rewritten_attention` (or
    the l2 one, where `torch_reference.swiftformer` gave the block the official l2 forward)."""
    import torch

    model = copy.deepcopy(model)
    for module in model.modules():
        if type(module).__name__ != "SwiftFormerEfficientAdditiveAttention":
            continue
        bound = module.__dict__.get("forward")  # an instance forward: the l2 patch
        l2 = getattr(bound, "__func__", None) is torch_reference.official_l2_attention
        # Not persistent: the state dict stays the reference's.
        module.register_buffer("ones", torch.ones(module.w_g.shape[0], 1), persistent=False)
        module.forward = (rewritten_l2_attention if l2 else rewritten_attention).__get__(module)
    return model


def logits_module(model, rewritten=False):
    """An `nn.Module` from NCHW pixels to `model`'s logits (export needs tensors out, not
    transformers' output object); `rewritten`: also `rewrite` it, and pool its head by a 4-D mean."""
    import torch

    class Logits(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, pixels):
            return self.model(pixels).logits

    class RewrittenLogits(Logits):
        def forward(self, pixels):  # SwiftFormerForImageClassification.forward, its mean 4-D
            features = self.model.norm(self.model.swiftformer(pixels).last_hidden_state)
            pooled = features.mean((2, 3), keepdim=True).flatten(1)
            return (self.model.head(pooled) + self.model.dist_head(pooled)) * 0.5

    return RewrittenLogits(rewrite(model)).eval() if rewritten else Logits(model).eval()


class Program:
    """A lowered ExecuTorch program: its `buffer` (.pte bytes), XNNPACK `partitions`, the number
    of ops `delegated` to them and `outside` (`{op name: count}`, the ops left to ExecuTorch's
    portable kernels)."""

    def __init__(self, buffer, partitions, delegated, outside):
        self.buffer, self.partitions, self.delegated, self.outside = buffer, partitions, delegated, outside

    def summary(self):
        return {"partitions": self.partitions, "delegated_ops": self.delegated, "ops_outside": dict(self.outside)}


def _op_name(node):
    return getattr(node.target, "__name__", str(node.target))


def delegation(edge):
    """`(partitions, delegated ops, {op name: count} outside)` of a lowered edge program."""
    program = edge.exported_program()
    partitions, delegated, outside = 0, 0, collections.Counter()
    for node in program.graph_module.graph.nodes:
        if node.op != "call_function" or _op_name(node) == "getitem":  # getitem: unpacks delegate outputs
            continue
        if _op_name(node) == "executorch_call_delegate":
            partitions += 1
            lowered = getattr(program.graph_module, node.args[0].target)
            delegated += sum(
                n.op == "call_function" and _op_name(n) != "getitem" for n in lowered.original_module.graph.nodes
            )
        else:
            outside[_op_name(node).removeprefix("aten.").removesuffix(".default")] += 1
    return partitions, delegated, outside


def export(model, size, rewritten=False, calibration=None):
    """The `Program` of transformers `model` at input `size` (height, width), batch 1, NCHW float
    in, logits out: fp32, or int8 (PT2E, XNNPACK quantizer) when `calibration` (NHWC float images)
    is given; `rewritten`: the rewrite above first."""
    import torch
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    module = logits_module(model, rewritten)
    example = (torch.zeros(1, 3, *size),)
    exported = torch.export.export(module, example)
    if calibration is not None:
        from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
            XNNPACKQuantizer,
            get_symmetric_quantization_config,
        )
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

        quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
        prepared = prepare_pt2e(exported.module(), quantizer)
        with torch.no_grad():
            for image in calibration:
                prepared(torch.from_numpy(np.ascontiguousarray(image[None].transpose(0, 3, 1, 2))))
        exported = torch.export.export(convert_pt2e(prepared), example)
    edge = to_edge_transform_and_lower(exported, partitioner=[XnnpackPartitioner()])
    counts = delegation(edge)  # before to_executorch, which rewrites the graph into out-variants
    return Program(edge.to_executorch().buffer, *counts)


def runner(buffer, threads):
    """A function from NHWC float32 images (numpy, batch 1) to the program's logits (numpy),
    run by `executorch.runtime` on `threads` threads (ExecuTorch's threadpool is process-wide:
    the last program loaded sets it for all)."""
    import torch
    from executorch.extension.pybindings.portable_lib import _unsafe_reset_threadpool
    from executorch.runtime import Runtime

    _unsafe_reset_threadpool(threads)  # before load_method: XNNPACK takes the pool when it loads
    program = Runtime.get().load_program(buffer)
    method = program.load_method("forward")

    def run(images):
        pixels = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
        return method.execute([pixels])[0].numpy()

    # The method points into its program: once the program is freed, it reads freed memory (a
    # segfault, or "Expected 0 inputs"), so the function keeps the program alive.
    run.program = program
    return run


def load_calibration(path, size):
    """The calibration images of the .npy file `path`: float NHWC images of `size` (height, width).

    Raises:
        ValueError: not a .npy file, or not such images (what it holds, and what is needed).
    """

    try:
        images = np.load(path)
    except (OSError, ValueError) as error:  # missing, or not a .npy file (refused as a pickle)
        raise ValueError(
            f"--calibration {path!r} cannot be read as a .npy array ({cli.one_line(error)}); "
            "save the preprocessed images with numpy.save."
        ) from None
    wanted = (*size, 3)
    if images.ndim != 4 or images.shape[1:] != wanted or not len(images) or images.dtype.kind != "f":
        raise ValueError(
            f"--calibration {path!r} holds {images.dtype} of shape {images.shape}; it needs float "
            f"images of shape (N, {', '.join(map(str, wanted))}), N >= 1, for --input-size "
            f"{size[0]} {size[1]}."
        )
    return images


def main(argv=None):
    """The command line; an expected failure (a missing file, say) is one line on stderr and exit 2."""
    return cli.run(_main, argv, prog=PROG)


def _main(argv):
    parser = cli.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    torch_reference.add_reference_arguments(parser, "the .pte file to write")
    parser.add_argument("--rewrite", action="store_true", help="the rewritten attention (one XNNPACK partition)")
    parser.add_argument("--calibration", help="int8: a .npy of preprocessed NHWC float32 calibration images")
    args = parser.parse_args(argv)
    torch_reference.check_reference_arguments(args, inputs=[("--calibration", args.calibration)])
    calibration = load_calibration(args.calibration, args.input_size) if args.calibration else None
    with cli.quiet_startup():
        # PyTorch and ExecuTorch start only now, every flag checked: --help and bad input answer at once.
        import transformers  # noqa: F401  (it imports torchao, which logs as it loads)

        try:
            import executorch  # noqa: F401
        except ImportError as error:
            raise ImportError(
                f"executorch is not installed in this Python ({cli.one_line(error)}): "
                "pip install -r requirements-executorch.txt"
            ) from None
    model = torch_reference.load_reference(args.depths, args.widths, args.classes, args.attention, args.weights)
    program = export(model, tuple(args.input_size), args.rewrite, calibration)
    files.write_bytes_atomically(args.output, program.buffer)
    print(json.dumps(program.summary()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
