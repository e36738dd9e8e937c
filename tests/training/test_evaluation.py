"""The evaluation loop on its own (evaluations of real models and files: test_evaluate.py)."""

import subprocess
import sys

import numpy as np

from conftest import ROOT
from swiftformer_keras.training import evaluation


def test_top_k_counts_against_a_loop():
    rng = np.random.default_rng(4)
    num_classes, k = 7, 5
    batches, all_scores, all_labels = [], [], []
    for size in (8, 8, 3):  # a last, partial batch
        labels = rng.integers(0, num_classes, size)
        scores = rng.normal(size=(size, num_classes)).astype("float32")
        scores[0, :] = 0.0  # a full tie: argmax's first class must win, and count in the top k
        batches.append((scores, np.eye(num_classes, dtype="float32")[labels]))
        all_scores.append(scores)
        all_labels.append(labels)
    confusion, hits = evaluation.accumulate(batches, lambda scores: scores, num_classes, k)

    scores, labels = np.concatenate(all_scores), np.concatenate(all_labels)
    expected_hits = 0
    for row, label in zip(scores, labels, strict=True):
        better = sum(1 for value in row if value > row[label])
        tied_before = sum(1 for c in range(label) if row[c] == row[label])
        expected_hits += better + tied_before < k
    assert hits == expected_hits
    assert confusion.sum() == len(labels)
    for row, label in zip(scores, labels, strict=True):
        assert confusion[label, int(np.argmax(row))] >= 1
    assert np.trace(confusion) == sum(int(np.argmax(row) == label) for row, label in zip(scores, labels, strict=True))


def test_the_evaluation_loop_loads_no_keras():
    """So that a .tflite file is scored where Keras has no backend (tflite-runtime's Python)."""
    probe = "import sys, swiftformer_keras.training.evaluation; print('keras' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.split() == ["False"], done.stderr[-2000:]
