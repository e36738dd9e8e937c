"""Training runs and the command line: learning on real data, resume, data parallelism, distillation,
errors (the parts: tests/training/, the settings' checks among them: test_config.py)."""

import csv
import dataclasses
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from conftest import ROOT, TINY, _mount_tmpfs, _unmount
from swiftformer_keras import train as train_lib
from swiftformer_keras.models.builders import build_swiftformer
from swiftformer_keras.training import loop
from swiftformer_keras.utils.images import recorded_crop_pct

# The training loop does not depend on the architecture's size: most runs here train TINY
# (conftest.py), as does trained_run there.


def _config(small_cifar, output, **overrides):
    settings = dict(
        data=small_cifar[0],
        output=str(output),
        variant=TINY,
        image_size=64,
        epochs=1,
        batch_size=32,
        learning_rate=2e-3,
        warmup_epochs=0,
        workers=1,
    )
    settings.update(overrides)
    return train_lib.TrainConfig(**settings)


def _metrics(output):
    with open(os.path.join(output, "metrics.csv")) as file:
        return list(csv.DictReader(file))


def test_short_training_lowers_the_loss_and_beats_chance(small_cifar, trained_run):
    output, result = trained_run  # _config(small_cifar, output, epochs=4), shared with test_conversion.py
    rows = _metrics(output)
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2, 3]
    losses = [float(r["loss"]) for r in rows]
    print(f"data: {small_cifar[1]}; losses {losses}; test top-1 {result['val_top1']:.3f}")
    assert losses[-1] < losses[0] - 0.1
    assert result["val_top1"] > 0.40  # 4 classes: chance is 0.25
    for name in ("model.keras", "model.weights.h5", "best.weights.h5", "curves.png", "config.json", "result.json"):
        assert os.path.getsize(output / name) > 0, name
    reloaded = keras.saving.load_model(str(output / "model.keras"))
    assert reloaded.output_shape == (None, 4)


class _Interrupt(keras.callbacks.Callback):
    def __init__(self, after_epoch):
        super().__init__()
        self.after_epoch = after_epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.after_epoch:
            raise KeyboardInterrupt("simulated interruption")


def test_resume_after_an_interruption_continues_at_the_right_epoch(small_cifar, tmp_path, monkeypatch):
    output = tmp_path / "run"
    config = _config(small_cifar, output, epochs=3, max_train_images=64, max_eval_images=32)
    with pytest.raises(KeyboardInterrupt):
        train_lib.train(config, callbacks=[_Interrupt(after_epoch=2)])
    state = json.loads((output / "checkpoints" / "state.json").read_text())
    assert state["epoch"] == 2 and state["checkpoint"] == "epoch-0002"
    assert sorted(os.listdir(output / "checkpoints")) == ["epoch-0002", "state.json"]

    seen = []

    class Record(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen.append((epoch, int(self.model.optimizer.iterations)))

    train_lib.train(config, callbacks=[Record()])
    steps = 64 // 32
    assert seen == [(2, 2 * steps)]  # epoch 3 only, with the optimizer state of epoch 2
    assert [int(r["epoch"]) for r in _metrics(output)] == [0, 1, 2]

    def not_now(*args, **kwargs):
        raise AssertionError("the data was read before the settings were checked")

    monkeypatch.setattr(loop, "load_image_folder", not_now)
    with pytest.raises(ValueError, match="other settings .*'epochs': \\(3, 5\\)"):
        train_lib.train(_config(small_cifar, output, epochs=5, max_train_images=64, max_eval_images=32))


_DATA_PARALLEL_SCRIPT = """
import json, sys
import keras
from swiftformer_keras import train
from swiftformer_keras.training.dataset import ImageFolderDataset
from swiftformer_keras.training.image_folder import load_image_folder
config = train.TrainConfig(data=sys.argv[1], output=sys.argv[2], epochs=1, batch_size=32, image_size=64,
    variant={"depths": [1, 1, 2, 1], "widths": [16, 24, 32, 48]},
    drop_path_rate=0.0, max_train_images=128, max_eval_images=32, warmup_epochs=0, workers=1,
    data_parallel=sys.argv[3] == "1")
result = train.train(config)
# Compare what the trained models compute, not raw weights: a conv bias that
# feeds a BatchNorm has a zero gradient, and Adam turns its float noise into steps.
folder = load_image_folder(sys.argv[1], "test")
images = ImageFolderDataset(folder, 64, 32)[0][0]
logits = keras.saving.load_model(sys.argv[2] + "/model.keras").predict(images, verbose=0)
print("RESULT" + json.dumps({"devices": result["devices"], "logits": logits.tolist()}))
"""


def test_two_device_data_parallel_matches_one_device(small_cifar, tmp_path):
    pytest.importorskip("jax")
    env = dict(
        os.environ,
        KERAS_BACKEND="jax",
        PYTHONPATH=ROOT,
        XLA_FLAGS="--xla_force_host_platform_device_count=2",
    )
    # Both runs at once: each spends most of its time compiling, which overlaps well.
    processes = {
        parallel: subprocess.Popen(
            [sys.executable, "-c", _DATA_PARALLEL_SCRIPT, small_cifar[0], str(tmp_path / f"run{parallel}"), parallel],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for parallel in ("0", "1")
    }
    runs = {}
    for parallel, process in processes.items():
        stdout, stderr = process.communicate(timeout=900)
        assert process.returncode == 0, stderr[-3000:]
        line = [text for text in stdout.splitlines() if text.startswith("RESULT")][0]
        runs[parallel] = json.loads(line[len("RESULT") :])
        runs[parallel]["loss"] = float(_metrics(tmp_path / f"run{parallel}")[0]["loss"])
    assert runs["0"]["devices"] == 1 and runs["1"]["devices"] == 2
    assert abs(runs["0"]["loss"] - runs["1"]["loss"]) < 1e-3
    one, two = np.asarray(runs["0"]["logits"]), np.asarray(runs["1"]["logits"])
    print(f"two devices vs one: max |logit diff| {np.abs(one - two).max():.2e} (logits up to {np.abs(one).max():.2f})")
    assert np.abs(one - two).max() <= 1e-3 * max(1.0, np.abs(one).max())


def test_distillation_and_ema_run_end_to_end(small_cifar, tmp_path):
    teacher = build_swiftformer(
        {"depths": (1, 1, 1, 1), "widths": (8, 16, 24, 32)},
        classes=4,
        input_shape=(64, 64, 3),
        classifier_activation=None,
    )
    teacher.save(str(tmp_path / "teacher.keras"))
    config = _config(
        small_cifar,
        tmp_path / "run",
        teacher=str(tmp_path / "teacher.keras"),
        ema_decay=0.9,
        max_train_images=64,
        max_eval_images=32,
    )
    result = train_lib.train(config)
    assert np.isfinite(float(_metrics(tmp_path / "run")[0]["loss"]))
    final = keras.saving.load_model(str(tmp_path / "run" / "model.keras"))
    assert final.output_shape == (None, 4) and 0.0 <= result["val_top1"] <= 1.0


# Runs the command line in a fresh Python and tells whether Keras was imported.
_KERAS_PROBE = (
    "import sys; from swiftformer_keras import train; code = train.main(sys.argv[1:]); "
    "print('EXIT', code, 'KERAS', 'keras' in sys.modules)"
)


def test_bad_paths_are_refused_before_keras_starts(small_cifar, tmp_path):
    data = small_cifar[0]
    no_eval_split = tmp_path / "no-eval"
    os.makedirs(no_eval_split / "train" / "cat")
    taken = tmp_path / "taken"
    taken.write_text("a file")
    run = str(tmp_path / "run")
    cases = [
        (["--data", str(no_eval_split), "--output", run], "has no val/ or test/ folder"),
        (["--data", data, "--output", run, "--teacher", str(tmp_path / "t.keras")], "--teacher"),
        (["--data", data, "--output", run, "--weights", str(tmp_path / "w.pth")], "--weights"),
        (["--data", data, "--output", str(taken)], "is a file, not a folder"),
        (["--data", data, "--output", os.path.join(data, "run")], "lies inside the input folder --data"),
    ]
    for argv, message in cases:
        done = subprocess.run(
            [sys.executable, "-c", _KERAS_PROBE, *argv],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
            check=False,
        )
        assert done.stdout.split() == ["EXIT", "2", "KERAS", "False"], (argv, done.stdout, done.stderr[-2000:])
        assert message in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert sorted(os.listdir(tmp_path)) == ["no-eval", "taken"]
    assert not os.path.exists(os.path.join(data, "run"))


def _tiny(small_cifar, output, **overrides):
    """A run of a few seconds per epoch: 16 training images, one step of 8 per epoch."""
    settings = dict(batch_size=8, max_train_images=16, max_eval_images=8, steps_per_epoch=1, epochs=3)
    settings.update(overrides)
    return _config(small_cifar, output, **settings)


# Kills the process (as kill -9 would) while the checkpoint of epoch 2 is being
# written: its optimizer file (np.savez) is the checkpoint's last write.
_KILL_SCRIPT = """
import json, os, signal, sys
import numpy as np
from swiftformer_keras import train
saves = []
real_savez = np.savez
def savez(*args, **kwargs):
    saves.append(1)
    if len(saves) == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    return real_savez(*args, **kwargs)
np.savez = savez
train.train(train.TrainConfig(**json.loads(sys.argv[1])))
"""


def test_a_kill_during_a_checkpoint_save_neither_repeats_an_epoch_nor_leaves_partials(small_cifar, tmp_path):
    output = tmp_path / "run"
    config = _tiny(small_cifar, output)
    completed = subprocess.run(
        [sys.executable, "-c", _KILL_SCRIPT, json.dumps(dataclasses.asdict(config))],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=ROOT),
        cwd=ROOT,
    )
    assert completed.returncode == -9, completed.stderr[-3000:]
    assert json.loads((output / "checkpoints" / "state.json").read_text())["epoch"] == 1

    train_lib.train(config)
    assert [int(r["epoch"]) for r in _metrics(output)] == [0, 1, 2]
    assert sorted(os.listdir(output / "checkpoints")) == ["epoch-0003", "state.json"]
    assert not [name for name in os.listdir(output) if ".partial" in name]
    # A checkpoint folder has the permissions of any folder the user makes (mkdtemp's are 0700).
    umask = os.umask(0)
    os.umask(umask)
    assert (output / "checkpoints" / "epoch-0003").stat().st_mode & 0o777 == 0o777 & ~umask


def test_rerunning_without_a_usable_state_file_resumes_without_repeating_epochs(small_cifar, tmp_path, capsys):
    output = tmp_path / "run"
    config = _tiny(small_cifar, output, epochs=2)
    train_lib.train(config)
    state = output / "checkpoints" / "state.json"
    for content in (None, '{"epoch": 2}'):
        if content is None:
            state.unlink()
        else:
            state.write_text(content)
        capsys.readouterr()
        train_lib.train(config)
        assert "resuming from the newest intact checkpoint, epoch-0002" in capsys.readouterr().out
        assert [int(r["epoch"]) for r in _metrics(output)] == [0, 1]


def test_a_full_disk_during_training_ends_in_one_line_and_leaves_no_partial(small_cifar, tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    # Room for the run's small files, not for its first checkpoint (about 60 MB).
    _mount_tmpfs(disk, "size=20m")
    try:
        completed = subprocess.run(
            [
                sys.executable,
                "-m",
                "swiftformer_keras.train",
                "--data",
                small_cifar[0],
                "--output",
                str(disk / "run"),
                "--epochs",
                "2",
                "--batch-size",
                "8",
                "--max-train-images",
                "16",
                "--max-eval-images",
                "8",
                "--steps-per-epoch",
                "1",
                "--workers",
                "1",
            ],
            capture_output=True,
            text=True,
            env=dict(os.environ, PYTHONPATH=ROOT),
            cwd=ROOT,
        )
        leftovers = [os.path.join(d, n) for d, dirs, files in os.walk(disk) for n in dirs + files if ".partial" in n]
    finally:
        _unmount(disk)
    assert completed.returncode == 2, completed.stderr[-3000:]
    assert "Traceback" not in completed.stderr
    ours = [line for line in completed.stderr.splitlines() if line.startswith(f"{train_lib.PROG}: error:")]
    assert len(ours) == 1 and "no space left" in ours[0], completed.stderr[-3000:]
    assert leftovers == []


def test_a_failed_run_leaves_no_output_folder_and_refuses_a_file(small_cifar, tmp_path, capsys):
    output = tmp_path / "run"
    assert train_lib.main(["--data", str(tmp_path / "none"), "--output", str(output)]) == 2
    assert not output.exists()
    teacher = str(tmp_path / "t.keras")
    assert train_lib.main(["--data", small_cifar[0], "--output", str(output), "--teacher", teacher]) == 2
    assert not output.exists()
    taken = tmp_path / "taken"
    taken.write_text("not a folder")
    assert train_lib.main(["--data", small_cifar[0], "--output", str(taken)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith("python -m swiftformer_keras.train: error: ") for line in lines)
    assert "is a file, not a folder" in lines[2] and "Errno" not in lines[2]


def test_cli_reports_errors_with_exit_code_2(tmp_path, capsys):
    code = train_lib.main(["--data", str(tmp_path / "none"), "--output", str(tmp_path / "run")])
    assert code == 2 and "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_training_runs_on_the_other_backends(small_cifar, tmp_path, backend):
    """The input pipeline needs no TensorFlow; the loss falls on every backend."""
    pytest.importorskip(backend)
    output = tmp_path / backend
    env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=ROOT)
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "swiftformer_keras.train",
            "--data",
            small_cifar[0],
            "--output",
            str(output),
            "--epochs",
            "2",
            "--batch-size",
            "32",
            "--max-train-images",
            "128",
            "--max-eval-images",
            "32",
            "--warmup-epochs",
            "0",
            "--lr",
            "2e-3",
            "--workers",
            "1",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert f"backend {backend}" in completed.stdout
    losses = [float(r["loss"]) for r in _metrics(output)]
    assert len(losses) == 2 and losses[1] < losses[0]


def test_bfloat16_mixed_precision_trains_and_restores_the_policy(small_cifar, tmp_path):
    config = _config(small_cifar, tmp_path / "run", precision="bfloat16", max_train_images=64, max_eval_images=32)
    result = train_lib.train(config)
    assert keras.config.dtype_policy().name == "float32"
    assert np.isfinite(float(_metrics(tmp_path / "run")[0]["loss"])) and 0.0 <= result["val_top1"] <= 1.0


def test_the_trained_model_records_the_crop_it_was_trained_for(trained_run):
    output, _ = trained_run
    for name in ("model.keras", "model.weights.h5", "best.weights.h5"):
        assert recorded_crop_pct(output / name) == 1.0, name  # TrainConfig's crop_pct
