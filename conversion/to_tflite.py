"""Convert SwiftFormer to a builtin-only TFLite model and report what it costs.

    python conversion/to_tflite.py --int8 --calib-dir photos/            # SwiftFormer-S, ImageNet weights
    python conversion/to_tflite.py --model XS --weights random --fp16

The command line of `swiftformer_keras.to_tflite` (installed as
`swiftformer-to-tflite`), under the name the README gives it: its messages
start `conversion/to_tflite.py: error:` and its cards quote this command.
`--help` lists the flags.
"""

import sys

from swiftformer_keras import to_tflite

PROG = "conversion/to_tflite.py"


def main(argv=None):
    """The command line; returns the exit code (2 and one line on stderr for an expected failure)."""
    return to_tflite.main(argv, prog=PROG, invocation=f"python {PROG}")


if __name__ == "__main__":
    sys.exit(main())
