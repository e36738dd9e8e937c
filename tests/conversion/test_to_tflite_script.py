"""conversion/to_tflite.py as the README runs it: a script, under its own name, offline (test_to_tflite.py
is the package's command line under it)."""

import os
import socket
import subprocess
import sys

from conftest import ROOT, XS_RANDOM
from conversion import to_tflite
from swiftformer_keras.lite import pipeline
from swiftformer_keras.lite import report as tflite_report  # `report` names conversion reports here

SCRIPT = os.path.join(ROOT, "conversion", "to_tflite.py")


def _closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _one_error_line(err):
    lines = [line for line in err.splitlines() if line.startswith("conversion/to_tflite.py: error: ")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_the_default_run_offline_is_one_line(tmp_path):
    env = {
        **os.environ,
        "SWIFTFORMER_WEIGHTS_URL": f"http://127.0.0.1:{_closed_port()}",
        "KERAS_HOME": str(tmp_path / "keras"),
    }
    done = subprocess.run([sys.executable, SCRIPT], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 2, done.stderr
    assert "Could not download the imagenet_timm weights of SwiftFormer-S" in _one_error_line(done.stderr)
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tflite")]


def test_a_bad_flag_names_the_script_and_help_lists_the_flags(tmp_path):
    bad = subprocess.run([sys.executable, SCRIPT, "--int9"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stdout == ""
    assert _one_error_line(bad.stderr) == "conversion/to_tflite.py: error: unrecognized arguments: --int9; see --help"
    shown = subprocess.run(
        [sys.executable, SCRIPT, "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert shown.returncode == 0 and shown.stdout.startswith("usage: conversion/to_tflite.py ")
    assert "--min-runtime VERSION" in shown.stdout and "--calib-dir CALIB_DIR" in shown.stdout


def test_the_card_quotes_the_command_as_it_was_typed(tmp_path, monkeypatch, capsys):
    seen = []
    monkeypatch.setattr(pipeline, "convert", lambda request: seen.append(request) or {})
    monkeypatch.setattr(tflite_report, "markdown", str)
    argv = [*XS_RANDOM, "--output", str(tmp_path / "my model.tflite")]
    assert to_tflite.main(argv) == 0
    assert seen[0].command == f"python conversion/to_tflite.py --model XS --weights random --output '{argv[-1]}'"
    assert f"wrote {argv[-1]}" in capsys.readouterr().out
