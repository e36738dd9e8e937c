"""android_bench/clients.py: the client agreement table for a trained model, and bad input."""

import csv
import os

from conftest import load_script
from swiftformer_keras import conversion


def test_the_table_scores_a_trained_models_file_in_both_clients(cifar_tflite, small_cifar, tmp_path, capsys,
                                                               tflite_runtime_python, mediapipe_python):
    keras_file, tflite = cifar_tflite["keras"], cifar_tflite["fp32"][0]
    test_dir = os.path.join(small_cifar[0], "test")
    code = load_script("android_bench/clients.py").main([
        "--keras-model", keras_file, "--files", str(tflite), "--images", test_dir, "--num", "24",
        "--csv", str(tmp_path / "clients.csv"),
    ])
    assert code == 0
    table = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| cifar_fp32.tflite")]
    assert len(table) == 2 and "task-library 0.4.4" in table[0] and "mediapipe 1.2.2" in table[1]
    with open(tmp_path / "clients.csv") as file:
        rows = list(csv.DictReader(file))
    assert [row["client"] for row in rows] == ["task-library", "mediapipe"]
    for row in rows:
        assert row["images"] == "24" and float(row["top1_agreement"]) == 1.0  # fp32: the same classes
        assert float(row["max_prob_diff"]) < 1e-4 and row["keras_top1"] == row["file_top1"]


def test_a_missing_file_is_one_line_before_the_model_loads(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(conversion, "load_keras_model", lambda *a, **k: (_ for _ in ()).throw(AssertionError("loaded")))
    code = load_script("android_bench/clients.py").main([
        "--model", "XS", "--weights", "random", "--files", str(tmp_path / "absent.tflite"), "--images", str(tmp_path),
    ])
    assert code == 2
    err = capsys.readouterr().err
    assert "android_bench/clients.py: error: --files:" in err and "absent.tflite' does not exist." in err
