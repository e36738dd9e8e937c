"""conversion/benchmark.py end to end on a small SwiftFormer with few runs (speed targets live in its
output, not here)."""

import csv
import importlib.metadata
import json
import os

import pytest

import swiftformer_keras as sfk
from swiftformer_keras.testing import randomize_weights
from conftest import TINY, load_script


def _benchmark():
    return load_script("conversion/benchmark.py")


@pytest.mark.parametrize("variant, paper_gmacs", [("XS", 0.6), ("S", 1.0)])
def test_mac_count_matches_the_paper(variant, paper_gmacs):
    model = sfk.SwiftFormer(variant, classifier_activation=None)
    assert _benchmark().count_macs(model) / 1e9 == pytest.approx(paper_gmacs, rel=0.05)


def test_benchmark_runs_every_mode_and_writes_its_tables(tmp_path, capsys):
    from PIL import Image
    import numpy as np

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(4):
        Image.fromarray(np.random.default_rng(i).integers(0, 255, (80, 72, 3), dtype=np.uint8)).save(photos / f"{i}.png")
    out, keras_file = tmp_path / "out", tmp_path / "tiny.keras"
    randomize_weights(sfk.SwiftFormer(TINY, input_shape=(64, 64, 3), classifier_activation=None)).save(keras_file)
    code = _benchmark().main([
        "--keras-model", str(keras_file), "--calib-dir", str(photos), "--num-calib", "4",
        "--runs", "3", "--warmup", "1", "--output-dir", str(out), "--profile", "--profile-runs", "100",
    ])
    assert code == 0
    printed = capsys.readouterr().out
    assert "| tiny.keras | int8 |" in printed and "int8 VNNI floor ms" in printed
    assert "**SwiftFormer-tiny.keras fp32**" in printed and "**SwiftFormer-tiny.keras int8**" in printed
    assert "| variant | int8 median ms | int8 / fp32 | GEMM share of int8 | GEMM-only ms |" in printed
    with open(out / "benchmark.json") as file:
        result = json.load(file)
    litert = f"litert {importlib.metadata.version('ai-edge-litert')}"  # the automatic choice in .venv
    assert result["runtime"] == litert and f"TFLite runtime: {litert}" in printed
    rows = {row["mode"]: row for row in result["rows"]}
    assert list(rows) == ["fp32", "fp16", "dynamic", "int8"]
    for row in rows.values():
        assert 0 < row["p5_ms"] <= row["median_ms"] <= row["p95_ms"]
        assert row["latency_vs_fp32"] == pytest.approx(row["median_ms"] / rows["fp32"]["median_ms"])
        assert os.path.getsize(out / f"swiftformer_tiny_keras_{row['mode']}.tflite") == pytest.approx(row["size_mb"] * 1e6)
    # int8 shrinks the file; less for a small model, whose fixed parts weigh more (XS: 0.29, README).
    assert rows["int8"]["xnnpack_partitions"] == 1 and rows["int8"]["size_vs_fp32"] < 0.55
    (checks,) = result["checks"]
    assert checks["fp32_max_abs_diff_vs_keras"] <= 1e-4 and checks["logit_std"] > 2
    # perf's profile of each file (tests/test_kernel_profile.py checks the kernels it names).
    for mode, profile in checks["profiles"].items():
        assert profile["model"] == str(out / f"swiftformer_tiny_keras_{mode}.tflite") and profile["runs"] == 100
        assert profile["kinds"]["GEMM"]["share"] > 0.05
    with open(out / "benchmark.csv") as file:
        assert len(list(csv.DictReader(file))) == 4
    assert (out / "benchmark.png").read_bytes()[:4] == b"\x89PNG"


def test_a_variant_gets_realistic_random_weights_and_logits():
    import numpy as np

    model = _benchmark().variant_model("XS", (64, 64))
    logits = np.asarray(model(np.random.default_rng(0).normal(size=(2, 64, 64, 3)).astype("float32")))
    assert logits.shape == (2, 1000) and logits.std() > 2  # not a softmax, not the 0.03 of default init


def test_missing_calibration_folder_is_a_clear_error(tmp_path, capsys):
    code = _benchmark().main(["--calib-dir", str(tmp_path / "none"), "--output-dir", str(tmp_path / "out")])
    assert code == 2 and "does not exist" in capsys.readouterr().err


def test_an_unusable_or_full_output_dir_is_one_line_and_exit_2(tmp_path, full_disk, capsys):
    from PIL import Image
    import numpy as np

    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(photos / "0.png")
    (tmp_path / "a_file").write_text("x")
    base = ["--variants", "XS", "--input-size", "64", "64", "--calib-dir", str(photos), "--num-calib", "1",
            "--runs", "1", "--warmup", "0"]
    assert _benchmark().main([*base, "--output-dir", str(tmp_path / "a_file")]) == 2
    assert "--output-dir" in (err := capsys.readouterr().err) and "is a file, not a folder" in err
    before = sorted(os.listdir(full_disk))
    assert _benchmark().main([*base, "--output-dir", str(full_disk)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("conversion/benchmark.py: error: no space left") and "Traceback" not in "\n".join(err)
    assert sorted(os.listdir(full_disk)) == before


@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated")
def test_time_files_and_partitions_use_the_runtime_asked_for(small_tflite):
    benchmark = _benchmark()
    for runtime in ("litert", "tensorflow"):
        times = benchmark.time_files({"a": small_tflite, "b": small_tflite}, threads=1, runs=3, warmup=1, runtime=runtime)
        assert {name: len(ms) for name, ms in times.items()} == {"a": 3, "b": 3}
        assert all(0 < value < 1000 for ms in times.values() for value in ms)
        assert benchmark.xnnpack_partitions(small_tflite, runtime) == 1
    with pytest.raises(ImportError, match="tflite-runtime is not installed in this Python"):
        benchmark.time_files({"a": small_tflite}, threads=1, runs=1, warmup=0, runtime="tflite-runtime")


def test_a_bad_or_missing_runtime_is_exit_2_before_any_work(tmp_path, capsys):
    base = ["--calib-dir", str(tmp_path / "none"), "--output-dir", str(tmp_path / "out")]
    with pytest.raises(SystemExit) as exit_info:
        _benchmark().main([*base, "--runtime", "nosuch"])
    assert exit_info.value.code == 2
    assert "argument --runtime: invalid choice: 'nosuch'" in capsys.readouterr().err
    # Refused before the calibration folder (which does not exist) is even looked at.
    assert _benchmark().main([*base, "--runtime", "tflite-runtime"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("conversion/benchmark.py: error: tflite-runtime is not installed in this Python")
    assert "make .venv-tflite-runtime/.installed" in line and not (tmp_path / "out").exists()


def test_profile_without_perf_is_one_line_and_exit_2_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))  # no perf on it
    code = _benchmark().main(["--calib-dir", str(tmp_path), "--output-dir", str(tmp_path / "out"), "--profile"])
    err = capsys.readouterr().err
    assert code == 2 and "perf is not installed: sudo apt-get install linux-perf" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out" / "benchmark.json").exists()
