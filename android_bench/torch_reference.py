"""The PyTorch side of the project: the reference SwiftFormer and what is done with it.

The reference is Hugging Face transformers' model, with either attention: transformers
ships the first-release "softmax" attention (the hub weights'); the "l2" formulation
swaps in the current official code's forward (Amshaker/SwiftFormer,
`EfficientAdditiveAttnetion.forward`). Around it: realistic random weights (the one
randomiser of the tests, compare.py and the demo), the weights of a Keras SwiftFormer
loaded into it, and its exports (safetensors for litert-torch, ONNX).

PyTorch, transformers and safetensors are imported inside the functions, and `swiftformer`
needs only torch and transformers: the separate interpreter that runs litert-torch
(litert_torch_export.py) builds the very same reference from this module. At the top are
only the project's light modules (the standard library and numpy), so that the export
scripts check their flags before PyTorch starts.
"""

import argparse
import os

import numpy as np

from swiftformer_keras.models.architecture import INPUT_STRIDE
from swiftformer_keras.utils import cli, files

ATTENTIONS = ("softmax", "l2")
ONNX_INPUT = "pixels"  # the input's name in `export_onnx`'s graph


def official_l2_attention(self, x):
    """The attention of the current official code, on (B, N, D) tokens."""
    import torch

    query = torch.nn.functional.normalize(self.to_query(x), dim=-1)
    key = torch.nn.functional.normalize(self.to_key(x), dim=-1)
    scores = torch.nn.functional.normalize(query @ self.w_g * self.scale_factor, dim=1)
    global_query = torch.sum(scores * query, dim=1).unsqueeze(1)
    return self.final(self.proj(global_query * key) + query)


def swiftformer(depths, widths, classes=1000, attention="softmax"):
    """A transformers `SwiftFormerForImageClassification` in eval mode, default initialised.

    Its `.logits` are `(head + dist_head) / 2`, as our `DistilledClassifier`'s.
    """
    from transformers import SwiftFormerConfig, SwiftFormerForImageClassification

    if attention not in ATTENTIONS:
        raise ValueError(f"attention must be one of {ATTENTIONS}, got {attention!r}.")
    config = SwiftFormerConfig(depths=list(depths), embed_dims=list(widths), num_labels=int(classes))
    model = SwiftFormerForImageClassification(config).eval()
    if attention == "l2":
        for module in model.modules():
            if type(module).__name__ == "SwiftFormerEfficientAdditiveAttention":
                module.forward = official_l2_attention.__get__(module)
    return model


def randomize(model, seed=0, logit_std=5.0):
    """Redraws `model`'s weights in place so that every branch matters; returns `model`.

    Default initialisation (std 0.02, layer scale 1e-5) would hide a broken attention below any
    tolerance, so BatchNorm statistics and affines, convolutions, linear layers, layer scales and
    `w_g` are all redrawn, then both heads are scaled to logits with a trained model's spread:
    random weights give logits in the hundreds with the sum-pooling ("softmax") attention, and a
    1e-4 absolute bound would then test float32 round-off rather than a port.
    """
    import torch

    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                size = module.num_features
                module.running_mean.copy_(torch.randn(size, generator=generator) * 0.2)
                module.running_var.copy_(torch.rand(size, generator=generator) + 0.5)
                module.weight.copy_(torch.rand(size, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(size, generator=generator) * 0.2)
            elif isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
                fan_in = module.weight[0].numel()
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator) / fan_in**0.5)
                module.bias.copy_(torch.randn(module.bias.shape, generator=generator) * 0.1)
            for name, parameter in module.named_parameters(recurse=False):
                if name.startswith("layer_scale"):
                    parameter.copy_(torch.rand(parameter.shape, generator=generator) * 0.5 + 0.5)
                elif name == "w_g":
                    parameter.copy_(torch.randn(parameter.shape, generator=generator))
        probe = torch.from_numpy(np.random.RandomState(seed).randn(2, 3, 224, 224).astype("float32"))
        scale = logit_std / float(model(probe).logits.std())
        for head in (model.head, model.dist_head):
            head.weight.mul_(scale)
            head.bias.mul_(scale)
    return model


def random_reference(depths, widths, classes=1000, attention="softmax", seed=0):
    """A `swiftformer` with seeded realistic random weights (`randomize`), in eval mode."""
    import torch

    torch.manual_seed(seed)  # the layers `randomize` leaves alone keep a seeded default init
    return randomize(swiftformer(depths, widths, classes, attention), seed)


def load_numpy_state(reference, state):
    """Loads `{key: numpy array}` (a state dict in the reference's own layout) into `reference`."""
    import torch

    reference.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()})
    return reference


def _stages(minimum):
    """An argparse type: one whole number >= `minimum` per stage, comma-separated ("3,3,6,4")."""

    def parse(text):
        try:
            values = [int(value) for value in text.split(",")]
        except ValueError:
            values = []
        if len(values) != 4 or min(values) < minimum:
            raise argparse.ArgumentTypeError(
                f"must be 4 whole numbers >= {minimum} separated by commas (one per stage), got {text!r}"
            )
        return values

    return parse


def add_reference_arguments(parser, output_help):
    """The command-line flags of a script that exports the reference: its architecture, its
    weights (a .safetensors state dict), the file to write and the input size. Check them with
    `check_reference_arguments` once parsed."""
    parser.add_argument("--depths", type=_stages(1), required=True, help="blocks per stage, e.g. 3,3,6,4")
    parser.add_argument("--widths", type=_stages(2), required=True, help="channels per stage, e.g. 48,56,112,220")
    parser.add_argument("--classes", type=cli.number(int, minimum=1), default=1000)
    parser.add_argument("--attention", choices=ATTENTIONS, default="softmax")
    parser.add_argument("--weights", required=True, help="the reference's state dict, .safetensors")
    parser.add_argument("--output", required=True, help=output_help)
    # The network downsamples 32 times: a smaller image would leave its last stage only padding.
    parser.add_argument(
        "--input-size", type=cli.number(int, minimum=INPUT_STRIDE), nargs=2, metavar=("H", "W"), default=(224, 224)
    )
    return parser


def check_reference_arguments(args, inputs=()):
    """Refuses, before PyTorch starts, the flags of `add_reference_arguments` that would fail
    later: --weights that are not a .safetensors file, an --output that cannot be written or
    would replace --weights or one of `inputs` (`(flag, path)` pairs)."""
    if not os.path.isfile(args.weights):
        raise ValueError(f"--weights {args.weights!r} does not exist; give the reference's .safetensors file.")
    safetensors_shapes(args.weights)
    files.check_output_paths(("--output", args.output), inputs=[("--weights", args.weights), *inputs])


def safetensors_shapes(path):
    """`{name: shape}` of the tensors in the .safetensors file `path`, read from its header alone.

    Raises:
        ValueError: `path` is not a .safetensors file.
    """
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(path, framework="numpy") as file:
            return {key: tuple(file.get_slice(key).get_shape()) for key in file.keys()}  # noqa: SIM118 (not a dict)
    except SafetensorError as error:
        raise ValueError(
            f"{os.fspath(path)!r} is not a .safetensors file ({cli.one_line(error)}); give the "
            "reference's state dict, as torch_reference.save_safetensors writes it."
        ) from None


def _misfit(found, wanted):
    """What keeps tensors of shapes `found` (`{name: shape}`) from loading where `wanted` ones go, or None."""
    missing = [name for name in wanted if name not in found]
    unknown = [name for name in found if name not in wanted]
    resized = [name for name in wanted if name in found and found[name] != wanted[name]]
    problems = [f"{name} is {found[name]} in the file, {wanted[name]} in the model" for name in resized[:3]]
    if missing:
        problems.append(f"{len(missing)} tensors missing ({', '.join(missing[:3])}, ...)")
    if unknown:
        problems.append(f"{len(unknown)} tensors the model does not have ({', '.join(unknown[:3])}, ...)")
    return "; ".join(problems) or None


def load_reference(depths, widths, classes, attention, weights):
    """A `swiftformer` holding the state dict of the .safetensors file `weights`.

    Raises:
        ValueError: `weights` is not a .safetensors file, or holds the weights of another
            architecture (what differs, and the fix).
    """
    from safetensors.torch import load_file

    model = swiftformer(depths, widths, classes, attention)
    misfit = _misfit(safetensors_shapes(weights), {k: tuple(v.shape) for k, v in model.state_dict().items()})
    if misfit:
        raise ValueError(
            f"The weights {os.fspath(weights)!r} are not those of a SwiftFormer with depths {list(depths)}, widths "
            f"{list(widths)} and {classes} classes: {misfit}. Give the --depths, --widths and --classes they were "
            "made for."
        )
    model.load_state_dict(load_file(weights))
    return model


def save_safetensors(model, path):
    """Writes `model`'s weights as a Hugging Face layout .safetensors file; returns `path`."""
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, path)
    return path


def export_onnx(model, path, size):
    """Exports `model` at input `size` (height, width) to ONNX (input `ONNX_INPUT`, NCHW; output
    "logits") with `torch.onnx.export`; returns `path`."""
    import torch

    torch.onnx.export(
        model,
        (torch.zeros(1, 3, *size),),
        path,
        opset_version=17,
        dynamo=False,
        input_names=[ONNX_INPUT],
        output_names=["logits"],
    )
    return path


def predictor(model, threads=None):
    """A function from NHWC float32 images (numpy) to `model`'s logits (numpy), run eagerly;
    `threads` sets torch's (process-wide) thread count."""
    import torch

    if threads is not None:
        torch.set_num_threads(threads)

    def predict(images):
        with torch.inference_mode():
            return model(torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))).logits.numpy()

    return predict
