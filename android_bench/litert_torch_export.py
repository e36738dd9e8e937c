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

    model = torch_reference.load_reference(depths, widths, classes, attention, weights)

    class Logits(torch.nn.Module):  # litert-torch needs tensors out, not transformers' output object
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, pixels):
            return self.model(pixels).logits

    litert_torch.convert(Logits(model).eval(), (torch.zeros(1, 3, *size),)).export(output)
    return output


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    torch_reference.add_reference_arguments(parser, "the .tflite file to write")
    args = parser.parse_args(argv)
    export(args.depths, args.widths, args.classes, args.attention, args.weights, args.output, args.input_size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
