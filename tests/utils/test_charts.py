"""The benchmarks' bar chart: a real PNG, written without switching matplotlib's backend."""

import os

import matplotlib
import numpy as np
import pytest
from PIL import Image

from swiftformer_keras.utils import charts as plots


def test_grouped_bars_writes_a_png_and_leaves_the_backend_alone(tmp_path):
    backend = matplotlib.get_backend()
    path = plots.grouped_bars(
        str(tmp_path / "chart.png"), ["SwiftFormer-XS", "SwiftFormer-S"],
        {"fp32": [7.4, 11.5], "int8": [3.0, None]}, "median latency, ms", "test", figsize=(5, 3),
    )
    with Image.open(path) as image:
        assert image.size == (600, 360)  # 5x3 inches at 120 dpi
        pixels = np.asarray(image.convert("L"))
    assert pixels.min() < 128 < pixels.max()  # bars and text drawn on a white page
    assert matplotlib.get_backend() == backend
    assert os.listdir(tmp_path) == ["chart.png"]


def test_a_bad_path_leaves_nothing(tmp_path):
    with pytest.raises(OSError):
        plots.grouped_bars(str(tmp_path / "missing" / "chart.png"), ["a"], {"x": [1.0]}, "y", "t")
    assert os.listdir(tmp_path) == []
