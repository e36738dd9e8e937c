"""The parts of the training loop (the runs themselves: test_train.py)."""

import os

import keras
import numpy as np
import pytest

from conftest import make_reference, write_checkpoint
from swiftformer_keras.training import loop as training
from swiftformer_keras.train import TrainConfig


def test_fine_tuning_keeps_the_backbone_and_makes_a_new_head(small_cifar, tmp_path):
    reference = make_reference("XS", "l2")
    checkpoint = write_checkpoint(reference, "official", str(tmp_path))
    config = TrainConfig(data=small_cifar[0], output=str(tmp_path / "run"), weights=checkpoint, variant="XS")
    student = training.build_student(config, classes=4)
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
    soft = training.DistillationLoss(3, alpha=0.5, temperature=2.0, kind="soft", reduction=None)
    p_t, p_s = softmax(teacher / 2), softmax(dist / 2)
    kl = (p_t * np.log(p_t / p_s)).sum(1) * 4
    np.testing.assert_allclose(
        np.asarray(soft(labels, logits)), 0.5 * cross_entropy(smoothed, head) + 0.5 * kl, rtol=1e-4
    )
    hard = training.DistillationLoss(3, alpha=0.3, kind="hard", label_smoothing=0.0, reduction=None)
    teacher_top = np.eye(3)[teacher.argmax(1)]
    np.testing.assert_allclose(
        np.asarray(hard(labels, logits)),
        0.7 * cross_entropy(labels, head) + 0.3 * cross_entropy(teacher_top, dist),
        rtol=1e-4,
    )


def _fake_run(folder, complete_epochs=(1, 2), incomplete_epochs=(3,)):
    """A run folder's checkpoints (empty files) and metrics, for the resume logic alone."""
    checkpoints = folder / "checkpoints"
    for epoch in (*complete_epochs, *incomplete_epochs):
        names = ("model.weights.h5", "optimizer.npz") if epoch in complete_epochs else ("model.weights.h5",)
        os.makedirs(checkpoints / f"epoch-{epoch:04d}")
        for name in names:
            (checkpoints / f"epoch-{epoch:04d}" / name).write_bytes(b"")
    rows = "epoch,loss,val_top1\n0,1.5,0.3\n1,1.2,0.6\n2,1.1,0.5\n"
    (folder / "metrics.csv").write_text(rows)
    return checkpoints / "state.json"


@pytest.mark.parametrize(
    "content, problem",
    [
        (None, "is missing"),
        ("", "is not valid JSON"),
        ('{"epoch": 2, "checkp', "is not valid JSON"),
        ('{"epoch": 2}', "does not name"),
        ('"epoch-0002"', "does not name"),
        ('{"epoch": 3, "checkpoint": "epoch-0003", "best_val_top1": 0.5}', "not an intact checkpoint"),
        ('{"epoch": 4, "checkpoint": "epoch-0004", "best_val_top1": 0.5}', "not an intact checkpoint"),
    ],
)
def test_a_broken_state_file_falls_back_to_the_newest_intact_checkpoint(tmp_path, capsys, content, problem):
    state = _fake_run(tmp_path)
    if content is not None:
        state.write_text(content)
    resume = training._resume_point(str(tmp_path))
    assert resume == {"epoch": 2, "checkpoint": "epoch-0002", "best_val_top1": 0.6}
    printed = capsys.readouterr().out
    assert str(state) in printed and problem in printed and "epoch-0002" in printed


def test_a_broken_state_file_without_any_checkpoint_is_a_clear_error(tmp_path):
    state = _fake_run(tmp_path, complete_epochs=())
    state.write_text('{"epoch": 2}')
    with pytest.raises(ValueError, match=f"{state}.*no intact checkpoint.*new --output folder"):
        training._resume_point(str(tmp_path))
    state.unlink()
    assert training._resume_point(str(tmp_path)) is None  # nothing to resume: a fresh run


def test_precision_auto_is_float32_on_the_cpu():
    assert training._dtype_policy("auto") == "float32"
    assert training._dtype_policy("bfloat16") == "mixed_bfloat16"
