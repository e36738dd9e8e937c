"""android_bench/executorch_export.py: the rewrite equals the transformers attention, and the int8
program (PT2E, XNNPACK quantizer) runs as one partition (fp32 programs: tests/test_compare.py)."""

import gc
import json
import os

import executorch  # noqa: F401,E402  (make test installs it, requirements-executorch.txt: a missing one fails)
import numpy as np
import pytest

from android_bench import executorch_export, torch_reference

XS = ([3, 3, 6, 4], [48, 56, 112, 220])
# One block per stage, the attention block: every op XNNPACK lacks is there, lowering is quicker.
TINY = ([1, 1, 1, 1], [16, 24, 32, 48])


@pytest.mark.parametrize("attention", torch_reference.ATTENTIONS)
def test_the_rewrite_gives_the_transformers_logits(attention):
    import torch

    reference = torch_reference.random_reference(*XS, attention=attention)
    pixels = torch.from_numpy(np.random.RandomState(0).randn(2, 3, 64, 64).astype("float32"))
    with torch.no_grad():
        want = reference(pixels).logits
        got = executorch_export.logits_module(reference, rewritten=True)(pixels)
        # The rewrite patched a copy: the reference itself still runs transformers' own forward.
        again = reference(pixels).logits
    assert float((got - want).abs().max()) < 1e-4 and torch.equal(again, want)
    assert "ones" not in executorch_export.rewrite(reference).state_dict()  # same state dict as the reference


def test_the_rewritten_int8_program_is_one_partition_and_predicts_like_pytorch(tmp_path, capsys):
    """Through the command line: reference weights in, a .pte and its partitions out."""
    reference = torch_reference.random_reference(*TINY, classes=10, attention="l2")
    weights = torch_reference.save_safetensors(reference, str(tmp_path / "w.safetensors"))
    images = np.random.RandomState(1).randn(16, 64, 64, 3).astype("float32")
    np.save(tmp_path / "calibration.npy", images[:8])
    output = tmp_path / "tiny_int8.pte"
    code = executorch_export.main(
        [
            "--depths",
            "1,1,1,1",
            "--widths",
            "16,24,32,48",
            "--classes",
            "10",
            "--attention",
            "l2",
            "--weights",
            weights,
            "--output",
            str(output),
            "--input-size",
            "64",
            "64",
            "--rewrite",
            "--calibration",
            str(tmp_path / "calibration.npy"),
        ]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["partitions"] == 1 and summary["ops_outside"] == {} and summary["delegated_ops"] > 0
    run = executorch_export.runner(output.read_bytes(), threads=2)
    gc.collect()  # the runner keeps its program alive: a freed one reads as "Expected 0 inputs", or crashes
    logits = np.concatenate([run(image[None]) for image in images])
    want = torch_reference.predictor(reference)(images)
    assert logits.shape == want.shape
    assert np.mean(logits.argmax(1) == want.argmax(1)) >= 0.75  # int8: most images, not all


def test_a_missing_weights_file_is_one_line_and_exit_2(tmp_path, capsys):
    code = executorch_export.main(
        [
            "--depths",
            "1,1,1,1",
            "--widths",
            "16,24,32,48",
            "--weights",
            str(tmp_path / "none.safetensors"),
            "--output",
            str(tmp_path / "x.pte"),
        ]
    )
    err = capsys.readouterr().err  # with torchao's import warnings, when this is the first import
    errors = [line for line in err.splitlines() if line.startswith("android_bench/executorch_export.py: error:")]
    assert code == 2 and len(errors) == 1 and "none.safetensors" in errors[0] and "Traceback" not in err
    assert os.listdir(tmp_path) == []


# --- issue 25: bad weights, sizes and calibration images are one line, before the export ------------


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    folder = tmp_path_factory.mktemp("weights")
    weights = torch_reference.save_safetensors(
        torch_reference.swiftformer(*TINY, classes=10), str(folder / "tiny.safetensors")
    )
    (folder / "garbage.safetensors").write_bytes(b"not a safetensors file")
    np.save(folder / "calibration_32.npy", np.zeros((2, 32, 32, 3), np.float32))
    np.save(folder / "labels.npy", np.zeros((2,), np.int64))
    return folder, weights


@pytest.mark.parametrize(
    "case, changes, message",
    [
        # These four ended in tracebacks: safetensors' header error, transformers' size mismatch and
        # missing keys, and a convolution kernel larger than the input.
        (
            "garbage weights",
            {"--weights": "garbage.safetensors"},
            "'{folder}/garbage.safetensors' is not a .safetensors file",
        ),
        (
            "other classes",
            {"--classes": "1000"},
            (
                "are not those of a SwiftFormer with depths [1, 1, 1, 1], widths [16, 24, 32, 48] and 1000 classes: "
                "head.weight is (10, 48) in the file, (1000, 48) in the model"
            ),
        ),
        ("other depths", {"--depths": "1,1,2,1"}, "tensors missing (swiftformer.encoder.network.4.blocks.0."),
        ("no input", {"--input-size": ["0", "0"]}, "argument --input-size: must be a whole number >= 32, got '0'"),
        ("three stages", {"--depths": "1,1,1"}, "argument --depths: must be 4 whole numbers >= 1 separated by commas"),
        (
            "garbage calibration",
            {"--calibration": "garbage.safetensors"},
            "--calibration '{folder}/garbage.safetensors' cannot be read as a .npy array",
        ),
        (
            "calibration of another size",
            {"--calibration": "calibration_32.npy"},
            "holds float32 of shape (2, 32, 32, 3); it needs float images of shape (N, 64, 64, 3)",
        ),
        ("labels for calibration", {"--calibration": "labels.npy"}, "holds int64 of shape (2,)"),
        ("output over the weights", {"--output": "tiny.safetensors"}, "is the input --weights"),
        ("output in a missing folder", {"--output": "none/x.pte"}, "the folder '{folder}/none' does not exist"),
    ],
)
def test_bad_input_is_one_line_and_exit_2_before_the_export(case, changes, message, tiny_weights, monkeypatch, capsys):
    monkeypatch.setattr(executorch_export, "export", lambda *a, **k: pytest.fail("the export started"))
    folder, weights = tiny_weights
    args = {
        "--depths": "1,1,1,1",
        "--widths": "16,24,32,48",
        "--classes": "10",
        "--weights": weights,
        "--output": "tiny.pte",
        "--input-size": ["64", "64"],
    }
    args.update(changes)
    argv = []
    for flag, value in args.items():
        values = value if isinstance(value, list) else [value]
        argv += [
            flag,
            *(os.path.join(folder, v) if flag in ("--weights", "--output", "--calibration") else v for v in values),
        ]
    before = sorted(os.listdir(folder))
    try:
        code = executorch_export.main(argv)
    except SystemExit as exit_info:  # the parser's own refusals
        code = exit_info.code
    err = capsys.readouterr().err  # the start-up lines of PyTorch, when this is the first import, and the error
    errors = [line for line in err.splitlines() if line.startswith("android_bench/executorch_export.py: error:")]
    assert code == 2 and len(errors) == 1 and "Traceback" not in err, err
    assert message.format(folder=folder) in errors[0]
    assert sorted(os.listdir(folder)) == before
