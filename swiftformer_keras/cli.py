"""What every command line of the project shares: number checks and its exit path.

An expected failure (a bad value, a missing or unwritable file, a full disk,
an unreachable server) ends in one line `<prog>: error: <message>` on stderr
and exit code 2; a traceback means a bug. The same range checks guard the
argparse flags and the Python functions behind them, so `--lr 0` and
`TrainConfig(learning_rate=0)` fail with the same words.
"""

import argparse
import sys

# What a user can cause and fix: bad values (ValueError), files and disks and
# servers (OSError, DiskFullError among them), a missing optional dependency.
EXPECTED_ERRORS = (ValueError, OSError, ImportError)


def check_number(name, value, minimum=None, maximum=None, *, above=None, below=None, integer=False):
    """Returns `value` if it lies in the allowed range, else raises `ValueError` naming `name`.

    `minimum`/`maximum` are inclusive bounds, `above`/`below` exclusive ones;
    `integer` requires a whole number.
    """
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
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


def describe_range(minimum=None, maximum=None, above=None, below=None, integer=False):
    """`"a number > 0"`, `"a whole number from 1 up"`, `"a number in (0, 1]"`..."""
    kind = "a whole number" if integer else "a number"
    low = (f"[{minimum}" if minimum is not None else f"({above}" if above is not None else None)
    high = (f"{maximum}]" if maximum is not None else f"{below})" if below is not None else None)
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


def one_line(error):
    """An exception as one line: its message, newlines folded."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text


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
