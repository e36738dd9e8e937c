"""android_bench/litert_torch_export.py, the program compare.py runs in litert-torch's own interpreter
(`python -m android_bench.litert_torch_export`, built by `routes.litert_torch_command`), with a stand-in
for litert-torch (which the project's environment does not hold)."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

from android_bench import litert_torch_export, routes, torch_reference

XS = ([3, 3, 6, 4], [48, 56, 112, 220])

# Converts nothing: runs the module once on the example input and writes the output's shape.
FAKE_LITERT_TORCH = """
import json


def convert(module, args):
    class Exported:
        def export(self, path):
            with open(path, "w") as file:
                json.dump(list(module(*args).shape), file)

    return Exported()
"""


def _export(tmp_path, weights, classes, attention, size):
    """Runs the program as compare.py does, in a child Python, with the fake litert-torch on its path."""
    (tmp_path / "litert_torch.py").write_text(FAKE_LITERT_TORCH)
    output = tmp_path / "out.tflite"
    shared = routes.Shared(None, None, str(weights), (*XS, classes, attention))
    command, env = routes.litert_torch_command(sys.executable, shared, str(output), size)
    env["PYTHONPATH"] += os.pathsep + str(tmp_path)
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=str(tmp_path), env=env)
    return done, output


def test_the_reference_with_its_weights_goes_to_litert_torch(tmp_path):
    weights = torch_reference.save_safetensors(
        torch_reference.random_reference(*XS, classes=10, attention="l2"), str(tmp_path / "w.safetensors")
    )
    done, output = _export(tmp_path, weights, 10, "l2", (64, 48))
    assert done.returncode == 0, done.stderr
    assert json.loads(output.read_text()) == [1, 10]  # logits, not transformers' output object


# --- issue 25: the arguments are checked first; a missing litert-torch is one line -------------------


@pytest.fixture(scope="module")
def xs_weights(tmp_path_factory):
    """XS weights for 10 classes, in a folder of their own."""
    folder = tmp_path_factory.mktemp("xs_weights")
    return torch_reference.save_safetensors(torch_reference.swiftformer(*XS, classes=10), str(folder / "w.safetensors"))


def _in_process(argv, capsys):
    """`main(argv)` here, its exit code and its one error line (PyTorch's start-up lines aside)."""
    try:
        code = litert_torch_export.main(argv)
    except SystemExit as exit_info:  # the parser's own refusals
        code = exit_info.code
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("android_bench/litert_torch_export.py: error:")]
    assert len(errors) == 1 and "Traceback" not in err, err
    return code, errors[0]


@pytest.fixture
def no_litert_torch(monkeypatch):
    monkeypatch.setitem(sys.modules, "litert_torch", None)  # `import litert_torch` raises ImportError


@pytest.fixture
def fake_litert_torch(monkeypatch, tmp_path_factory):
    folder = tmp_path_factory.mktemp("fake_litert_torch")
    (folder / "litert_torch.py").write_text(FAKE_LITERT_TORCH)
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.delitem(sys.modules, "litert_torch", raising=False)


def test_weights_of_another_architecture_fail(tmp_path, xs_weights, fake_litert_torch, capsys):
    output = tmp_path / "out.tflite"
    code, line = _in_process(
        ["--depths", "3,3,6,4", "--widths", "48,56,112,220", "--weights", xs_weights, "--output", str(output)], capsys
    )  # 1000 classes asked for
    assert code == 2 and "not those of a SwiftFormer with depths [3, 3, 6, 4]" in line
    assert "head.weight is (10, 220) in the file, (1000, 220) in the model" in line and not output.exists()


@pytest.mark.parametrize("case", ["missing weights", "output over the weights", "no input", "missing --output"])
def test_bad_arguments_are_one_line_before_litert_torch_is_needed(case, tmp_path, xs_weights, no_litert_torch, capsys):
    """Any error ended in litert-torch's ModuleNotFoundError, which was imported first."""
    args = {
        "--depths": ["3,3,6,4"],
        "--widths": ["48,56,112,220"],
        "--classes": ["10"],
        "--weights": [xs_weights],
        "--output": [str(tmp_path / "out.tflite")],
    }
    changes, message = {
        "missing weights": (
            {"--weights": [str(tmp_path / "none.safetensors")]},
            f"--weights '{tmp_path / 'none.safetensors'}' does not exist",
        ),
        "output over the weights": ({"--output": [xs_weights]}, "is the input --weights"),
        "no input": ({"--input-size": ["0", "0"]}, "argument --input-size: must be a whole number >= 32, got '0'"),
        "missing --output": ({"--output": []}, "the following arguments are required: --output; see --help"),
    }[case]
    args.update(changes)
    weights = pathlib.Path(xs_weights).read_bytes()
    code, line = _in_process([item for flag, values in args.items() if values for item in (flag, *values)], capsys)
    assert code == 2 and message in line and "not installed" not in line
    assert os.listdir(tmp_path) == [] and pathlib.Path(xs_weights).read_bytes() == weights


def test_a_missing_litert_torch_is_one_line_saying_what_to_install(tmp_path, xs_weights, no_litert_torch, capsys):
    code, line = _in_process(
        [
            "--depths",
            "3,3,6,4",
            "--widths",
            "48,56,112,220",
            "--classes",
            "10",
            "--weights",
            xs_weights,
            "--output",
            str(tmp_path / "out.tflite"),
        ],
        capsys,
    )
    assert code == 2 and "litert-torch is not installed in this Python" in line
    assert "pip install litert-torch" in line and "--litert-torch-python" in line
    assert os.listdir(tmp_path) == []
