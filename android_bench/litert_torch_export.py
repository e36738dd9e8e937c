"""Converts the PyTorch reference SwiftFormer, weights from a safetensors file, to TFLite with litert-torch.

    python android_bench/litert_torch_export.py --depths 3,3,6,4 --widths 48,56,112,220 \\
        --weights XS.safetensors --output xs_litert_torch.tflite [--classes 1000] \\
        [--attention softmax] [--input-size 224 224]

compare.py runs this file with the interpreter given as --litert-torch-python: litert-torch
pins packages (an older typing_extensions) that the project's environment should not take,
so it lives in an environment of its own, which needs torch, transformers, safetensors and
litert-torch and nothing of this project but android_bench/torch_reference.py.
"""

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # run as a script by another interpreter, from anywhere
    sys.path.insert(0, ROOT)

from android_bench import torch_reference  # noqa: E402


def export(depths, widths, classes, attention, weights, output, size):
    """Writes the reference with `weights` as a TFLite file at `output`; input NCHW at `size`."""
    import litert_torch
    import torch
    from safetensors.torch import load_file

    model = torch_reference.swiftformer(depths, widths, classes, attention)
    model.load_state_dict(load_file(weights))

    class Logits(torch.nn.Module):  # litert-torch needs tensors out, not transformers' output object
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, pixels):
            return self.model(pixels).logits

    litert_torch.convert(Logits(model).eval(), (torch.zeros(1, 3, *size),)).export(output)
    return output


def _int_list(text):
    return [int(value) for value in text.split(",")]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--depths", type=_int_list, required=True, help="blocks per stage, e.g. 3,3,6,4")
    parser.add_argument("--widths", type=_int_list, required=True, help="channels per stage, e.g. 48,56,112,220")
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--attention", choices=torch_reference.ATTENTIONS, default="softmax")
    parser.add_argument("--weights", required=True, help="the reference's state dict, .safetensors")
    parser.add_argument("--output", required=True, help="the .tflite file to write")
    parser.add_argument("--input-size", type=int, nargs=2, metavar=("H", "W"), default=(224, 224))
    args = parser.parse_args(argv)
    export(args.depths, args.widths, args.classes, args.attention, args.weights, args.output, args.input_size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
