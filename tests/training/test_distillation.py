"""The distillation loss (a distilled run end to end: test_train.py)."""

import numpy as np

from swiftformer_keras.training.distillation import DistillationLoss


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
    soft = DistillationLoss(3, alpha=0.5, temperature=2.0, kind="soft", reduction=None)
    p_t, p_s = softmax(teacher / 2), softmax(dist / 2)
    kl = (p_t * np.log(p_t / p_s)).sum(1) * 4
    np.testing.assert_allclose(
        np.asarray(soft(labels, logits)), 0.5 * cross_entropy(smoothed, head) + 0.5 * kl, rtol=1e-4
    )
    hard = DistillationLoss(3, alpha=0.3, kind="hard", label_smoothing=0.0, reduction=None)
    teacher_top = np.eye(3)[teacher.argmax(1)]
    np.testing.assert_allclose(
        np.asarray(hard(labels, logits)),
        0.7 * cross_entropy(labels, head) + 0.3 * cross_entropy(teacher_top, dist),
        rtol=1e-4,
    )
