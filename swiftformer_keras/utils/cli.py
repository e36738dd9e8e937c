"""What every command line of the project shares: its parser, number checks, a quiet
start-up and its exit path.

An expected failure (a bad value, a missing or unwritable file, a full disk,
an unreachable server) ends in one line `<prog>: error: <message>` on stderr
and exit code 2, a usage error from the parser too; a traceback means a bug.
The same range checks guard the argparse flags and the Python functions behind
them, so `--lr 0` and `TrainConfig(learning_rate=0)` fail with the same words.

A command line parses and checks its flags before it imports TensorFlow, Keras
or PyTorch (`--help` and a bad flag answer at once), then imports them inside
`quiet_startup()`, which drops the lines their native libraries print while
they load and keeps every other line.
"""

import argparse
import contextlib
import math
import os
import re
import sys
import tempfile

# What a user can cause and fix: bad values (ValueError), files and disks and
# servers (OSError, DiskFullError among them), a missing optional dependency.
EXPECTED_ERRORS = (ValueError, OSError, ImportError)


def check_number(name, value, minimum=None, maximum=None, *, above=None, below=None, integer=False):
    """Returns `value` if it lies in the allowed range, else raises `ValueError` naming `name`.

    `minimum`/`maximum` are inclusive bounds, `above`/`below` exclusive ones;
    `integer` requires a whole number.
    """
    # inf is refused too: no count, size or time of the project is unbounded (`--timeout inf`).
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok and integer:
        ok = float(value).is_integer()
    for bound, holds in (
        (minimum, lambda b: value >= b),
        (maximum, lambda b: value <= b),
        (above, lambda b: value > b),
        (below, lambda b: value < b),
    ):
        if ok and bound is not None and not holds(bound):
            ok = False
    if not ok:
        raise ValueError(f"{name} must be {describe_range(minimum, maximum, above, below, integer)}, got {value!r}.")
    return value


def check_no_repeats(flag, values):
    """Returns `values` unless one of them is given twice, else raises `ValueError` naming them."""
    repeated = sorted({value for value in values if list(values).count(value) > 1})
    if repeated:
        raise ValueError(f"{flag} names {', '.join(map(str, repeated))} more than once; name each once.")
    return values


def describe_range(minimum=None, maximum=None, above=None, below=None, integer=False):
    """`"a number > 0"`, `"a whole number from 1 up"`, `"a number in (0, 1]"`..."""
    kind = "a whole number" if integer else "a number"
    low = f"[{minimum}" if minimum is not None else f"({above}" if above is not None else None
    high = f"{maximum}]" if maximum is not None else f"{below})" if below is not None else None
    if low and high:
        return f"{kind} in {low}, {high}"
    if low:
        return f"{kind} >= {minimum}" if minimum is not None else f"{kind} > {above}"
    if high:
        return f"{kind} <= {maximum}" if maximum is not None else f"{kind} < {below}"
    return kind


def number(kind=float, **bounds):
    """An argparse `type=` that parses `kind` and applies `check_number`'s bounds.

    parser.add_argument("--lr", type=number(float, above=0))
    parser.add_argument("--epochs", type=number(int, minimum=1))
    """

    def parse(text):
        try:
            return check_number("the value", kind(text), integer=kind is int, **bounds)
        except ValueError:  # not a number of that kind, or out of range: one message for both
            raise argparse.ArgumentTypeError(
                f"must be {describe_range(integer=kind is int, **bounds)}, got {text!r}"
            ) from None

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


# Terminal colour and cursor codes (TensorFlow colours some of its errors).
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]{0,32}[A-Za-z]")


def checked_by(check):
    """An argparse `type=` that applies `check(text)`: its `ValueError` becomes the parser's
    one-line error, so a Python function and its flag refuse a value with the same words."""

    def parse(text):
        try:
            return check(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    parse.__name__ = check.__name__
    return parse


def one_line(error):
    """An exception (or a message) as one line: newlines folded, terminal colour codes removed."""
    text = _ANSI_ESCAPE.sub("", str(error))
    return " ".join(text.split()) or type(error).__name__


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser whose usage errors end like every other failure: one line
    `<prog>: error: <message>; see --help` on stderr and exit code 2, no usage block.

    A mistyped flag is named before the required ones it leaves missing (argparse
    reports the missing ones first, which hides the typo behind them).
    """

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {one_line(message)}; see --help\n")

    def parse_args(self, args=None, namespace=None):
        required = [action for action in self._actions if action.required]
        groups = [group for group in self._mutually_exclusive_groups if group.required]
        for item in (*required, *groups):
            item.required = False
        try:
            namespace, extras = self.parse_known_args(args, namespace)
        finally:
            for item in (*required, *groups):
                item.required = True
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        missing = [action for action in required if getattr(namespace, action.dest, None) is None]
        if missing:
            names = ", ".join("/".join(action.option_strings) or action.dest for action in missing)
            self.error(f"the following arguments are required: {names}")
        for group in groups:
            if all(getattr(namespace, action.dest, None) in (None, False) for action in group._group_actions):
                names = " ".join("/".join(action.option_strings) for action in group._group_actions)
                self.error(f"one of the arguments {names} is required")
        return namespace


# What native libraries print on stderr while they load: absl's preamble and its
# info and warning lines (oneDNN, CUDA stubs, CPU features; PyTorch's own in the same
# format), TensorFlow's note on CPU instructions, the CUDA probes of a GPU build on a
# machine without a GPU, and torchao's CUDA kernels missing from a CPU build. Read off
# TensorFlow 2.21, LiteRT 2.3, PyTorch 2.13 and ExecuTorch 1.5 starting on this project's hosts.
_LOG_LINE = r"[\d:. ]{8,40}\d+ [^\s\]]{1,300}:\d+\] "
STARTUP_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    rf"|[IW]\d{{4}} {_LOG_LINE}.*"
    rf"|E\d{{4}} {_LOG_LINE}.*(failed call to cuInit|Unable to register cu\w{{1,8}} factory"
    r"|computation placer already registered).*"
    r"|Failed to load \S{1,300}/torchao/\S{1,200}\.so: Could not load this library: .*"
    r"|To enable the following instructions: .*"
    r"|.*rebuild TensorFlow with the appropriate compiler flags\.)$"
)
# What the runtimes read when they start (set before they load; a value the user set wins).
QUIET_ENVIRONMENT = {"TF_CPP_MIN_LOG_LEVEL": "2", "GRPC_VERBOSITY": "ERROR"}


def startup_lines_kept(text):
    """The lines of `text` (what was printed while libraries loaded) that are not `STARTUP_NOISE`."""
    return [line for line in text.splitlines() if line.strip() and not STARTUP_NOISE.match(line)]


def import_keras(what):
    """`keras`, imported with its backend inside `quiet_startup`, for `what` (the task that needs it).

    Raises:
        ImportError: one line naming `what`, the Python and the fix, where `import keras`
            fails (an environment made to run .tflite files has Keras but no backend).
    """
    try:
        with quiet_startup():
            import keras  # a backend loads with it: TensorFlow, JAX or PyTorch
    except ImportError as error:
        raise ImportError(
            f"{what} needs Keras with a backend, and `import keras` fails in this Python ({sys.executable}: "
            f"{one_line(error)}); run it with .venv/bin/python, or install a Keras backend: "
            "pip install 'swiftformer-keras[tensorflow]' (or [jax], [torch])"
        ) from None
    return keras


def import_keras_hub(what):
    """`keras_hub`, imported inside `quiet_startup`, for `what` (the task that needs it).

    Raises:
        ImportError: one line naming `what` and the extra to install, where it is not installed.
    """
    try:
        with quiet_startup():
            import keras_hub  # TensorFlow Text, and with it TensorFlow, load with it
    except ImportError as error:
        raise ImportError(
            f"{what} needs KerasHub, and `import keras_hub` fails in this Python ({sys.executable}: "
            f"{one_line(error)}); pip install 'swiftformer-keras[keras-hub]'"
        ) from None
    return keras_hub


@contextlib.contextmanager
def quiet_startup():
    """Runs the block (the imports of TensorFlow, Keras, PyTorch) with the runtimes'
    start-up noise dropped from stderr; every other line printed in the block is
    printed after it, in order.

    The noise is written by C++ straight to file descriptor 2, before any Python
    logging is set up, and TensorFlow reads `TF_CPP_MIN_LOG_LEVEL` from the
    environment the process started with, so neither a logging level nor
    `os.environ` can silence it: the descriptor itself is pointed at a
    temporary file for the block.
    """
    for name, value in QUIET_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
            if "tensorflow" in sys.modules:  # its devices are probed on first use: cuInit's error
                sys.modules["tensorflow"].config.list_physical_devices()
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = startup_lines_kept(captured.read().decode("utf-8", "replace"))
            if kept:
                print("\n".join(kept), file=sys.stderr, flush=True)


def run(main, argv=None, prog=None):
    """Calls `main(argv)`; an expected failure becomes one line on stderr and exit 2.

    `KeyboardInterrupt` exits 130 with one line, as a shell would.
    """
    prog = prog or "error"
    try:
        return main(argv)
    except EXPECTED_ERRORS as error:
        print(f"{prog}: error: {one_line(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
