"""Training: learning on real data, resume, data parallelism, distillation, errors."""

import csv
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from conftest import make_reference, write_checkpoint
from swiftformer_keras import train as train_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _config(small_cifar, output, **overrides):
    settings = dict(
        data=small_cifar[0], output=str(output), variant="XS", image_size=64, epochs=1,
        batch_size=32, learning_rate=2e-3, warmup_epochs=0, workers=1,
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


def test_resume_after_an_interruption_continues_at_the_right_epoch(small_cifar, tmp_path):
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
    with pytest.raises(ValueError, match="other settings .*'epochs': \\(3, 5\\)"):
        train_lib.train(_config(small_cifar, output, epochs=5, max_train_images=64, max_eval_images=32))


_DATA_PARALLEL_SCRIPT = """
import json, sys
import keras
from swiftformer_keras import data, train
config = train.TrainConfig(data=sys.argv[1], output=sys.argv[2], epochs=1, batch_size=32, image_size=64,
    drop_path_rate=0.0, max_train_images=128, max_eval_images=32, warmup_epochs=0, workers=1,
    data_parallel=sys.argv[3] == "1")
result = train.train(config)
# Compare what the trained models compute, not raw weights: a conv bias that
# feeds a BatchNorm has a zero gradient, and Adam turns its float noise into steps.
folder = data.load_image_folder(sys.argv[1], "test")
images = data.ImageFolderDataset(folder, 64, 32)[0][0]
logits = keras.saving.load_model(sys.argv[2] + "/model.keras").predict(images, verbose=0)
print("RESULT" + json.dumps({"devices": result["devices"], "logits": logits.tolist()}))
"""


def test_two_device_data_parallel_matches_one_device(small_cifar, tmp_path):
    pytest.importorskip("jax")
    env = dict(
        os.environ, KERAS_BACKEND="jax", PYTHONPATH=ROOT,
        XLA_FLAGS="--xla_force_host_platform_device_count=2",
    )
    # Both runs at once: each spends most of its time compiling, which overlaps well.
    processes = {
        parallel: subprocess.Popen(
            [sys.executable, "-c", _DATA_PARALLEL_SCRIPT, small_cifar[0], str(tmp_path / f"run{parallel}"), parallel],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        for parallel in ("0", "1")
    }
    runs = {}
    for parallel, process in processes.items():
        stdout, stderr = process.communicate(timeout=900)
        assert process.returncode == 0, stderr[-3000:]
        line = [l for l in stdout.splitlines() if l.startswith("RESULT")][0]
        runs[parallel] = json.loads(line[len("RESULT"):])
        runs[parallel]["loss"] = float(_metrics(tmp_path / f"run{parallel}")[0]["loss"])
    assert runs["0"]["devices"] == 1 and runs["1"]["devices"] == 2
    assert abs(runs["0"]["loss"] - runs["1"]["loss"]) < 1e-3
    one, two = np.asarray(runs["0"]["logits"]), np.asarray(runs["1"]["logits"])
    print(f"two devices vs one: max |logit diff| {np.abs(one - two).max():.2e} (logits up to {np.abs(one).max():.2f})")
    assert np.abs(one - two).max() <= 1e-3 * max(1.0, np.abs(one).max())


def test_fine_tuning_keeps_the_backbone_and_makes_a_new_head(small_cifar, tmp_path):
    reference = make_reference("XS", "l2")
    checkpoint = write_checkpoint(reference, "official", str(tmp_path))
    config = _config(small_cifar, tmp_path / "run", weights=checkpoint)
    student = train_lib.build_student(config, classes=4)
    stem = reference.state_dict()["swiftformer.patch_embed.patch_embedding.0.weight"].numpy()
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(student.get_layer("stem").conv1.kernel), stem.transpose(2, 3, 1, 0)
    )
    assert student.output_shape == (None, 4)


def test_distillation_loss_against_numpy():
    rng = np.random.RandomState(0)
    head, dist, teacher = (rng.randn(5, 3).astype("float32") for _ in range(3))
    labels = np.eye(3, dtype="float32")[[0, 1, 2, 0, 1]]

    def softmax(z):
        e = np.exp(z - z.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    def cross_entropy(target, logits):
        return -(target * np.log(softmax(logits))).sum(1)

    smoothed = labels * 0.9 + 0.1 / 3
    logits = np.concatenate([head, dist, teacher], 1)
    soft = train_lib.DistillationLoss(3, alpha=0.5, temperature=2.0, kind="soft", reduction=None)
    p_t, p_s = softmax(teacher / 2), softmax(dist / 2)
    kl = (p_t * np.log(p_t / p_s)).sum(1) * 4
    np.testing.assert_allclose(
        np.asarray(soft(labels, logits)), 0.5 * cross_entropy(smoothed, head) + 0.5 * kl, rtol=1e-4
    )
    hard = train_lib.DistillationLoss(3, alpha=0.3, kind="hard", label_smoothing=0.0, reduction=None)
    teacher_top = np.eye(3)[teacher.argmax(1)]
    np.testing.assert_allclose(
        np.asarray(hard(labels, logits)),
        0.7 * cross_entropy(labels, head) + 0.3 * cross_entropy(teacher_top, dist),
        rtol=1e-4,
    )


def test_distillation_and_ema_run_end_to_end(small_cifar, tmp_path):
    teacher = train_lib.build_swiftformer(
        {"depths": (1, 1, 1, 1), "widths": (8, 16, 24, 32)}, classes=4, input_shape=(64, 64, 3),
        classifier_activation=None,
    )
    teacher.save(str(tmp_path / "teacher.keras"))
    config = _config(
        small_cifar, tmp_path / "run", teacher=str(tmp_path / "teacher.keras"), ema_decay=0.9,
        max_train_images=64, max_eval_images=32,
    )
    result = train_lib.train(config)
    assert np.isfinite(float(_metrics(tmp_path / "run")[0]["loss"]))
    final = keras.saving.load_model(str(tmp_path / "run" / "model.keras"))
    assert final.output_shape == (None, 4) and 0.0 <= result["val_top1"] <= 1.0


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"image_size": 100}, "multiple of 32"),
        ({"variant": "M"}, "Unknown variant 'M'"),
        ({"precision": "int8"}, "precision must be"),
        ({"data": "/nonexistent/data"}, "does not exist"),
    ],
)
def test_bad_settings_are_refused(small_cifar, tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        train_lib.train(_config(small_cifar, tmp_path / "run", **overrides))


def test_cli_reports_errors_with_exit_code_2(tmp_path, capsys):
    code = train_lib.main(["--data", str(tmp_path / "none"), "--output", str(tmp_path / "run")])
    assert code == 2 and "does not exist" in capsys.readouterr().err


def test_precision_auto_is_float32_on_the_cpu():
    assert train_lib._dtype_policy("auto") == "float32"
    assert train_lib._dtype_policy("bfloat16") == "mixed_bfloat16"


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_training_runs_on_the_other_backends(small_cifar, tmp_path, backend):
    """The input pipeline needs no TensorFlow; the loss falls on every backend."""
    pytest.importorskip(backend)
    output = tmp_path / backend
    env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=ROOT)
    completed = subprocess.run(
        [sys.executable, "-m", "swiftformer_keras.train", "--data", small_cifar[0], "--output", str(output),
         "--epochs", "2", "--batch-size", "32", "--max-train-images", "128", "--max-eval-images", "32",
         "--warmup-epochs", "0", "--lr", "2e-3", "--workers", "1"],
        capture_output=True, text=True, env=env, cwd=ROOT,
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
