"""The PyTorch side of the project: the reference SwiftFormer and what is done with it.

The reference is Hugging Face transformers' model, with either attention: transformers
ships the first-release "softmax" attention (the hub weights'); the "l2" formulation
swaps in the current official code's forward (Amshaker/SwiftFormer,
`EfficientAdditiveAttnetion.forward`). Around it: realistic random weights (the one
randomiser of the tests, compare.py and the demo), the weights of a Keras SwiftFormer
loaded into it, and its exports (safetensors for litert-torch, ONNX).

Every import happens inside the functions, and `swiftformer` needs only torch and
transformers: the separate interpreter that runs litert-torch (litert_torch_export.py)
builds the very same reference from this module.
"""

ATTENTIONS = ("softmax", "l2")


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
    import numpy as np
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
    import numpy as np
    import torch

    reference.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()})
    return reference


def _int_list(text):
    return [int(value) for value in text.split(",")]


def add_reference_arguments(parser, output_help):
    """The command-line flags of a script that exports the reference: its architecture, its
    weights (a .safetensors state dict), the file to write and the input size."""
    parser.add_argument("--depths", type=_int_list, required=True, help="blocks per stage, e.g. 3,3,6,4")
    parser.add_argument("--widths", type=_int_list, required=True, help="channels per stage, e.g. 48,56,112,220")
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--attention", choices=ATTENTIONS, default="softmax")
    parser.add_argument("--weights", required=True, help="the reference's state dict, .safetensors")
    parser.add_argument("--output", required=True, help=output_help)
    parser.add_argument("--input-size", type=int, nargs=2, metavar=("H", "W"), default=(224, 224))
    return parser


def load_reference(depths, widths, classes, attention, weights):
    """A `swiftformer` holding the state dict of the .safetensors file `weights`."""
    from safetensors.torch import load_file

    model = swiftformer(depths, widths, classes, attention)
    model.load_state_dict(load_file(weights))
    return model


def save_safetensors(model, path):
    """Writes `model`'s weights as a Hugging Face layout .safetensors file; returns `path`."""
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, path)
    return path


def export_onnx(model, path, size):
    """Exports `model` at input `size` (height, width) to ONNX (input "pixels", NCHW; output
    "logits") with `torch.onnx.export`; returns `path`."""
    import torch

    torch.onnx.export(
        model, (torch.zeros(1, 3, *size),), path, opset_version=17, dynamo=False,
        input_names=["pixels"], output_names=["logits"],
    )
    return path


def predictor(model, threads=None):
    """A function from NHWC float32 images (numpy) to `model`'s logits (numpy), run eagerly;
    `threads` sets torch's (process-wide) thread count."""
    import numpy as np
    import torch

    if threads is not None:
        torch.set_num_threads(threads)

    def predict(images):
        with torch.inference_mode():
            return model(torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))).logits.numpy()

    return predict
