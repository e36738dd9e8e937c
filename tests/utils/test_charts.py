"""The project's charts: real PNGs, written atomically, without switching matplotlib's backend."""

import os

import matplotlib
import numpy as np
import pytest
from PIL import Image

from swiftformer_keras.utils import charts


def _bars(path):
    series = {"fp32": [7.4, 11.5], "int8": [3.0, None]}
    return charts.grouped_bars(path, ["XS", "S"], series, "median latency, ms", "test", figsize=(5, 3))


def _curves(path):
    panels = {"loss": {"loss": [1.5, 1.2, 1.0], "val_loss": [1.6, 1.4, 1.3]}, "top1": {"top1": [0.3, 0.5, 0.6]}}
    return charts.curves(path, [1, 2, 3], panels, figsize=(6, 3))


def _confusion(path):
    return charts.confusion_matrix(path, np.array([[3, 1], [0, 4]]), ["cat", "dog"], "test")


def _panels(path):
    panels = [
        ("latency", "ms", {"LiteRT": [3.6, 1.3], "TF 2.16": ["does not load", 2.6]}, True),
        ("ARM", "M instructions", {"A76": [249.0, 77.6]}, False),
        ("accuracy", "dB", {"host": ["reference", 31.8]}, False),
    ]
    return charts.bar_panels(path, ["fp32", "int8"], panels, "test", figsize=(6, 3))


# Each chart with data of its kind, and the pixel size its figure and dpi give: bars 5x3 inches at
# 120 dpi, curves 6x3 at 100, the confusion matrix of 2 classes 5x4 at 100, the panels 6x3 at 110.
CHARTS = {
    "grouped_bars": (_bars, (600, 360)),
    "curves": (_curves, (600, 300)),
    "confusion_matrix": (_confusion, (500, 400)),
    "bar_panels": (_panels, (660, 330)),
}


@pytest.mark.parametrize("name", CHARTS)
def test_a_chart_is_a_png_drawn_without_switching_the_backend(tmp_path, name):
    draw, size = CHARTS[name]
    backend = matplotlib.get_backend()
    path = draw(str(tmp_path / "chart.png"))
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == size
        pixels = np.asarray(image.convert("L"))
    assert pixels.min() < 128 < pixels.max()  # marks and text drawn on a white page
    assert matplotlib.get_backend() == backend
    assert os.listdir(tmp_path) == ["chart.png"]


@pytest.mark.parametrize("name", CHARTS)
def test_a_bad_path_leaves_nothing(tmp_path, name):
    with pytest.raises(OSError):
        CHARTS[name][0](str(tmp_path / "missing" / "chart.png"))
    assert os.listdir(tmp_path) == []


def test_a_ragged_panel_is_refused_and_leaves_nothing(tmp_path):
    with pytest.raises(ValueError):  # a panel whose series do not give every group a value
        charts.bar_panels(str(tmp_path / "c.png"), ["fp32", "int8"], [("t", "x", {"a": [1.0]}, False)], "test")
    assert os.listdir(tmp_path) == []
