"""Converts the PyTorch reference SwiftFormer, weights from a safetensors file, to TFLite with litert-torch.

    python android_bench/litert_torch_export.py --depths 3,3,6,4 --widths 48,56,112,220 \\
        --weights XS.safetensors --output xs_litert_torch.tflite [--classes 1000] \\
        [--attention softmax] [--input-size 224 224]

compare.py runs it as `python -m android_bench.litert_torch_export` with the interpreter
given as --litert-torch-python: litert-torch pins packages (an older typing_extensions) that
the project's environment should not take, so it lives in an environment of its own, which
needs torch, transformers, safetensors and litert-torch. Of this project it needs
android_bench/torch_reference.py and the light modules of swiftformer_keras it imports
(standard library and numpy): compare.py puts the checkout on that Python's PYTHONPATH
(`commands.python_module_command`), so the environment need not install the project. Run by
hand: `PYTHONPATH=. lt/bin/python -m android_bench.litert_torch_export ...` from the checkout.

Flags and the weights file are checked before PyTorch starts, weights of another
architecture before the conversion; an expected failure, a missing litert-torch among
them, is one line `android_bench/litert_torch_export.py: error: ...` and exit code 2.
"""

import argparse
import sys

from android_bench import torch_reference
from swiftformer_keras.utils import cli, files

PROG = "android_bench/litert_torch_export.py"


def _litert_torch():
    """The litert_torch module, or an ImportError that says how to install it."""
    try:
        import litert_torch
    except ImportError as error:
        raise ImportError(
            f"litert-torch is not installed in this Python ({sys.executable}: {cli.one_line(error)}); install it "
            "in an environment of its own: python -m venv lt && lt/bin/pip install litert-torch transformers "
            "safetensors, then run this file with lt/bin/python (compare.py: --litert-torch-python lt/bin/python)"
        ) from None
    return litert_torch


def export(depths, widths, classes, attention, weights, output, size):
    """Writes the reference with `weights` as a TFLite file at `output`; input NCHW at `size`."""
    litert_torch = _litert_torch()
    import torch

    model = torch_reference.load_reference(depths, widths, classes, attention, weights)

    class Logits(torch.nn.Module):  # litert-torch needs tensors out, not transformers' output object
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, pixels):
            return self.model(pixels).logits

    converted = litert_torch.convert(Logits(model).eval(), (torch.zeros(1, 3, *size),))
    # keep_name: the exporter sees a path ending in .tflite, and a failure leaves no partial file.
    files.write_atomically(output, converted.export, keep_name=True)
    return output


def main(argv=None):
    """The command line; an expected failure is one line on stderr and exit code 2."""
    return cli.run(_main, argv, prog=PROG)


def _main(argv):
    parser = cli.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    torch_reference.add_reference_arguments(parser, "the .tflite file to write")
    args = parser.parse_args(argv)
    torch_reference.check_reference_arguments(args)
    with cli.quiet_startup():
        # PyTorch and litert-torch start only now, every flag checked: --help and bad input answer at once.
        _litert_torch()
        import transformers  # noqa: F401
    export(args.depths, args.widths, args.classes, args.attention, args.weights, args.output, tuple(args.input_size))
    return 0


if __name__ == "__main__":
    sys.exit(main())
