"""android_bench/litert_torch_export.py, the program compare.py runs in litert-torch's own interpreter,
with a stand-in for litert-torch (which the project's environment does not hold)."""

import json
import os
import subprocess
import sys

from android_bench import torch_reference

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "android_bench", "litert_torch_export.py")
XS = ([3, 3, 6, 4], [48, 56, 112, 220])

# Converts nothing: runs the module once on the example input and writes the output's shape.
FAKE_LITERT_TORCH = '''
import json


def convert(module, args):
    class Exported:
        def export(self, path):
            with open(path, "w") as file:
                json.dump(list(module(*args).shape), file)

    return Exported()
'''


def _export(tmp_path, weights, *extra):
    (tmp_path / "litert_torch.py").write_text(FAKE_LITERT_TORCH)
    output = tmp_path / "out.tflite"
    done = subprocess.run(
        [sys.executable, SCRIPT, "--depths", "3,3,6,4", "--widths", "48,56,112,220", "--weights", str(weights),
         "--output", str(output), *extra],
        capture_output=True, text=True, timeout=600, cwd=str(tmp_path),
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    return done, output


def test_the_reference_with_its_weights_goes_to_litert_torch(tmp_path):
    weights = torch_reference.save_safetensors(torch_reference.random_reference(*XS, classes=10, attention="l2"),
                                               str(tmp_path / "w.safetensors"))
    done, output = _export(tmp_path, weights, "--classes", "10", "--attention", "l2", "--input-size", "64", "48")
    assert done.returncode == 0, done.stderr
    assert json.loads(output.read_text()) == [1, 10]  # logits, not transformers' output object


def test_weights_of_another_architecture_fail(tmp_path):
    weights = torch_reference.save_safetensors(torch_reference.swiftformer(*XS, classes=10),
                                               str(tmp_path / "w.safetensors"))
    done, output = _export(tmp_path, weights)  # 1000 classes asked for
    assert done.returncode != 0 and "size mismatch" in done.stderr and not output.exists()
