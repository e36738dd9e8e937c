"""The command lines' shared range checks and exit path."""

import argparse
import errno

import pytest

from swiftformer_keras import cli, files


@pytest.mark.parametrize(
    "value, bounds, ok",
    [
        (1e-3, {"above": 0}, True),
        (0, {"above": 0}, False),
        (0.0, {"minimum": 0}, True),
        (1.0, {"above": 0, "maximum": 1}, True),
        (1.5, {"above": 0, "maximum": 1}, False),
        (-1, {"minimum": 0}, False),
        (float("nan"), {"minimum": 0}, False),
        (True, {"minimum": 0}, False),
        ("ten", {"minimum": 1}, False),
        (2.5, {"minimum": 1, "integer": True}, False),
        (3, {"minimum": 1, "integer": True}, True),
        (1.0, {"below": 1}, False),
    ],
)
def test_check_number(value, bounds, ok):
    if ok:
        assert cli.check_number("x", value, **bounds) == value
    else:
        with pytest.raises(ValueError, match=r"^x must be .*, got "):
            cli.check_number("x", value, **bounds)


def test_range_descriptions_read_as_a_person_would_write_them():
    assert cli.describe_range(above=0) == "a number > 0"
    assert cli.describe_range(above=0, maximum=1) == "a number in (0, 1]"
    assert cli.describe_range(minimum=1, integer=True) == "a whole number >= 1"
    assert cli.describe_range(minimum=0, below=1) == "a number in [0, 1)"


def test_argparse_type_names_the_flag_and_the_range(capsys):
    parser = argparse.ArgumentParser(prog="tool")
    parser.add_argument("--lr", type=cli.number(float, above=0))
    parser.add_argument("--steps", type=cli.number(int, minimum=1))
    assert parser.parse_args(["--lr", "0.5", "--steps", "3"]).steps == 3
    for argv, message in ((["--lr", "0"], "argument --lr: must be a number > 0, got '0'"),
                          (["--steps", "-1"], "argument --steps: must be a whole number >= 1, got '-1'"),
                          (["--steps", "two"], "argument --steps: must be a whole number >= 1, got 'two'")):
        with pytest.raises(SystemExit) as exit:
            parser.parse_args(argv)
        assert exit.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize(
    "error",
    [ValueError("bad --crop-pct 0:\nuse (0, 1]"), FileNotFoundError(2, "gone"),
     files.DiskFullError(errno.ENOSPC, "no space left"), ImportError("no torch")],
)
def test_expected_failures_are_one_line_and_exit_2(error, capsys):
    def main(argv):
        raise error

    assert cli.run(main, [], prog="tool") == 2
    err = capsys.readouterr().err
    assert err.startswith("tool: error: ") and err.count("\n") == 1 and "Traceback" not in err


def test_bugs_are_not_swallowed():
    def main(argv):
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        cli.run(main, [], prog="tool")
