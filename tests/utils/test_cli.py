"""The command lines' shared range checks and exit path."""

import argparse
import errno
import os
import subprocess
import sys

import pytest
import tomllib

from conftest import ROOT
from swiftformer_keras.utils import cli, files


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
    for argv, message in (
        (["--lr", "0"], "argument --lr: must be a number > 0, got '0'"),
        (["--steps", "-1"], "argument --steps: must be a whole number >= 1, got '-1'"),
        (["--steps", "two"], "argument --steps: must be a whole number >= 1, got 'two'"),
    ):
        with pytest.raises(SystemExit) as exit:
            parser.parse_args(argv)
        assert exit.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize(
    "error",
    [
        ValueError("bad --crop-pct 0:\nuse (0, 1]"),
        FileNotFoundError(2, "gone"),
        files.DiskFullError(errno.ENOSPC, "no space left"),
        ImportError("no torch"),
    ],
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


# --- issue 25: every command line answers --help and a bad flag at once, in one line -------------

# The command lines users run: scripts, and `python -m` modules.
COMMAND_LINES = [
    "conversion/to_tflite.py",
    "conversion/benchmark.py",
    "conversion/runtime_matrix.py",
    "conversion/op_costs.py",
    "conversion/arm_cost.py",
    "conversion/overview.py",
    "android_bench/run.py",
    "android_bench/host.py",
    "android_bench/compare.py",
    "android_bench/clients.py",
    "android_bench/executorch_export.py",
    "android_bench/litert_torch_export.py",
    "examples/demo.py",
    "-m swiftformer_keras.train",
    "-m swiftformer_keras.evaluate",
    "-m swiftformer_keras.convert_weights",
    "-m swiftformer_keras.to_tflite",
]
HEAVY_MODULES = ("tensorflow", "keras", "torch", "jax", "executorch", "ai_edge_torch", "litert_torch")
_PROBE = """
import runpy, sys
target, argv = sys.argv[1], sys.argv[2:]
sys.argv = [target, *argv]
try:
    if target.startswith("-m "):
        runpy.run_module(target[3:], run_name="__main__", alter_sys=True)
    else:
        runpy.run_path(target, run_name="__main__")
except SystemExit as exit:
    code = exit.code
else:
    code = 0
print("HEAVY", [name for name in {heavy!r} if name in sys.modules], "EXIT", code)
"""


def _probe(command_line, *argv):
    env = {key: value for key, value in os.environ.items() if not key.startswith("TF_CPP")}
    return subprocess.run(
        [sys.executable, "-c", _PROBE.format(heavy=HEAVY_MODULES), command_line, *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("command_line", COMMAND_LINES)
def test_help_and_a_bad_flag_start_no_runtime_and_print_one_line(command_line):
    helped = _probe(command_line, "--help")
    assert helped.stdout.rstrip().endswith("HEAVY [] EXIT 0"), (helped.stdout[-300:], helped.stderr[-2000:])
    assert "usage:" in helped.stdout and helped.stderr == ""
    refused = _probe(command_line, "--no-such-flag")
    assert refused.stdout.rstrip().endswith("HEAVY [] EXIT 2"), (refused.stdout[-300:], refused.stderr[-2000:])
    assert refused.stderr.count("\n") == 1, refused.stderr
    assert "error: unrecognized arguments: --no-such-flag; see --help" in refused.stderr


def _console_scripts():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as file:
        return sorted(tomllib.load(file)["project"]["scripts"].items())


@pytest.mark.parametrize("script, entry_point", _console_scripts())
def test_every_console_script_is_installed_and_answers_at_once(script, entry_point):
    """What `pip install swiftformer-keras` puts on the PATH: the same command lines, under their own names."""
    path = os.path.join(os.path.dirname(sys.executable), script)
    helped = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=120)
    assert helped.returncode == 0 and helped.stderr == "", helped.stderr
    refused = subprocess.run([path, "--no-such-flag"], capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
    module = entry_point.split(":")[0]
    assert refused.stderr.split(": error: ")[0] in (script, f"python -m {module}"), refused.stderr


def test_the_runtimes_start_up_lines_are_dropped_and_other_lines_kept():
    noise = [
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
        "I0000 00:00:1796582933.259236    2849 port.cc:153] oneDNN custom operations are on. You may see slightly",
        "I0000 00:00:1796582933.259573    2849 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU",
        "E0000 00:00:1796583240.009034    3631 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error",
        "To enable the following instructions: AVX2 AVX512F AVX512_VNNI FMA, in other operations, rebuild "
        "TensorFlow with the appropriate compiler flags.",
        "W1206 19:40:51.082000 32270 torch/utils/_pytree.py:630] <enum 'KernelPreference'> is an Enum subclass",
        "Failed to load /v/site-packages/torchao/_C_mxfp8.cpython-310-x86_64-linux-gnu.so: Could not load this "
        "library: /v/site-packages/torchao/_C_mxfp8.cpython-310-x86_64-linux-gnu.so",
    ]
    kept = ["E0000 00:00:1796583240.009034    3631 model.cc:12] the file is damaged", "UserWarning: a real one"]
    assert cli.startup_lines_kept("\n".join(noise[:2] + kept[:1] + noise[2:] + kept[1:])) == kept


def test_quiet_startup_silences_tensorflow_loading_and_keeps_a_warning():
    script = (
        "import sys\nfrom swiftformer_keras.utils import cli\nwith cli.quiet_startup():\n    import tensorflow\n"
        "    print('a warning of our own', file=sys.stderr)\n"
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("TF_CPP")}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stderr == "a warning of our own\n", done.stderr
    loud = subprocess.run(
        [sys.executable, "-c", "import tensorflow"], env=env, capture_output=True, text=True, timeout=300
    )
    assert "absl::InitializeLog" in loud.stderr  # what it dropped: the check can fail


def test_an_infinite_or_huge_number_is_refused(capsys):
    parser = cli.ArgumentParser(prog="tool")
    parser.add_argument("--timeout", type=cli.number(float, above=0))
    for text in ("inf", "1e999", "nan"):
        with pytest.raises(SystemExit) as exit:
            parser.parse_args(["--timeout", text])
        assert exit.value.code == 2
        expected = f"tool: error: argument --timeout: must be a number > 0, got '{text}'; see --help\n"
        assert capsys.readouterr().err == expected
    with pytest.raises(ValueError, match="runs must be a whole number >= 1, got inf"):
        cli.check_number("runs", float("inf"), minimum=1, integer=True)


def test_one_line_drops_terminal_colour_codes():
    assert (
        cli.one_line(ValueError("\x1b[1mEinsum\x1b[0m failed:\n  shapes \x1b[31mdiffer\x1b[0m"))
        == "Einsum failed: shapes differ"
    )


def test_a_mistyped_flag_is_named_before_the_required_ones_it_leaves_missing(capsys):
    parser = cli.ArgumentParser(prog="tool")
    parser.add_argument("--data", required=True)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model")
    source.add_argument("--keras-model")
    for argv, message in (
        (["--dta", "x"], "unrecognized arguments: --dta x"),
        (["--model", "S"], "the following arguments are required: --data"),
        (["--data", "d"], "one of the arguments --model --keras-model is required"),
    ):
        with pytest.raises(SystemExit) as exit:
            parser.parse_args(argv)
        assert exit.value.code == 2 and capsys.readouterr().err == f"tool: error: {message}; see --help\n"
    assert parser.parse_args(["--data", "d", "--keras-model", "m"]).keras_model == "m"


def test_a_checked_type_refuses_with_the_checks_own_words(capsys):
    def even(text):
        if int(text) % 2:
            raise ValueError(f"{text} is odd; give an even number")
        return int(text)

    parser = cli.ArgumentParser(prog="tool")
    parser.add_argument("--n", type=cli.checked_by(even))
    assert parser.parse_args(["--n", "4"]).n == 4
    with pytest.raises(SystemExit):
        parser.parse_args(["--n", "3"])
    assert capsys.readouterr().err == "tool: error: argument --n: 3 is odd; give an even number; see --help\n"
