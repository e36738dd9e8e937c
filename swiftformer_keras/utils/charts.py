"""Charts the benchmarks write beside their tables.

Drawn with matplotlib's object-oriented API on the Agg canvas, as evaluation's and
training's plots are: no pyplot, so a user's notebook backend is never switched.
"""

import numpy as np

from swiftformer_keras.utils.files import write_atomically


def grouped_bars(path, groups, series, ylabel, title, figsize=(8, 4.5)):
    """Writes a grouped bar chart as a PNG, atomically.

    Args:
        path: the `.png` to write.
        groups: the x-axis labels, e.g. `["SwiftFormer-XS", "SwiftFormer-S"]`.
        series: `{legend label: [one value per group]}`; a missing value is 0.
        ylabel, title: the axis label and the title.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=figsize)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    width = 0.8 / max(1, len(series))
    positions = np.arange(len(groups))
    for index, (label, values) in enumerate(series.items()):
        axes.bar(positions + index * width, [0 if v is None else v for v in values], width, label=label)
    axes.set_xticks(positions + width * (len(series) - 1) / 2, list(groups))
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.legend(fontsize=8)
    figure.tight_layout()
    return write_atomically(path, lambda temp: figure.savefig(temp, format="png", dpi=120))
