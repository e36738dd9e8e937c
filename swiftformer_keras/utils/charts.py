"""The charts the project writes: the benchmarks' bars, training's curves, evaluation's confusion matrix.

Each takes the numbers to draw (its caller reads and computes them) and writes a PNG
atomically. Drawn with matplotlib's object-oriented API on the Agg canvas: no pyplot, so
a user's notebook backend is never switched. matplotlib loads when the first chart is
drawn, not when a command line that may draw one starts.
"""

import os

import numpy as np

from swiftformer_keras.utils.files import write_atomically

# Beyond these class counts, names on the axes (and counts in the cells) are unreadable.
MAX_LABELLED_CLASSES = 60
MAX_ANNOTATED_CLASSES = 20


def _new_figure(figsize):
    """A matplotlib `Figure` on its own Agg canvas."""
    # Imported here: matplotlib takes a while to import, and the command lines that import this
    # module must answer --help and a bad flag at once; only the ones that draw pay for it.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=figsize)
    FigureCanvasAgg(figure)
    return figure


def _save(figure, path, dpi):
    figure.tight_layout()
    return write_atomically(os.fspath(path), lambda temp: figure.savefig(temp, format="png", dpi=dpi))


def grouped_bars(path, groups, series, ylabel, title, figsize=(8, 4.5)):
    """Writes a grouped bar chart as a PNG, atomically; returns its path.

    Args:
        path: the `.png` to write.
        groups: the x-axis labels, e.g. `["SwiftFormer-XS", "SwiftFormer-S"]`.
        series: `{legend label: [one value per group]}`; a missing value is 0.
        ylabel, title: the axis label and the title.
    """
    figure = _new_figure(figsize)
    axes = figure.add_subplot()
    width = 0.8 / max(1, len(series))
    positions = np.arange(len(groups))
    for index, (label, values) in enumerate(series.items()):
        axes.bar(positions + index * width, [0 if v is None else v for v in values], width, label=label)
    axes.set_xticks(positions + width * (len(series) - 1) / 2, list(groups))
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.legend(fontsize=8)
    return _save(figure, path, dpi=120)


def bar_panels(path, groups, panels, title, figsize=(13, 5.2)):
    """Writes side-by-side panels of horizontal grouped bars sharing their rows, as a PNG,
    atomically; returns its path. What one thing costs on several scales, side by side.

    Args:
        path: the `.png` to write.
        groups: the row labels, top to bottom, shared by every panel (the files, say).
        panels: `[(panel title, x-axis label, {legend label: [one value per group]}, log)]`, left
            to right. A value is a number (a bar, labelled) or a text written in place of the bar
            ("does not load"); a group whose values are all one text has it written once. `log`
            draws the x axis on a log scale (latencies that span 50x).
        title: the figure's title.
    """
    figure = _new_figure(figsize)
    axes = figure.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    positions = np.arange(len(groups))
    at_axis = {"xycoords": ("axes fraction", "data"), "textcoords": "offset points", "va": "center"}
    for axis, (panel_title, xlabel, series, log) in zip(axes, panels, strict=True):
        height = 0.8 / max(1, len(series))
        columns = list(zip(*series.values(), strict=True))  # the values of each group
        for index, (label, values) in enumerate(series.items()):
            offsets = positions + (index - (len(series) - 1) / 2) * height
            drawn = [(y, v) for y, v in zip(offsets, values, strict=True) if not isinstance(v, str)]
            bars = axis.barh([y for y, _ in drawn], [v for _, v in drawn], height, label=label)
            axis.bar_label(bars, fmt="%.3g", fontsize=6, padding=1)
            for group, (y, value) in enumerate(zip(offsets, values, strict=True)):
                if isinstance(value, str) and len(set(columns[group])) > 1:
                    axis.annotate(value, (0, y), xytext=(2, 0), fontsize=5, **at_axis)
        for y, values in zip(positions, columns, strict=True):
            if isinstance(values[0], str) and len(set(values)) == 1:
                axis.annotate(values[0], (0, y), xytext=(4, 0), fontsize=7, color="0.4", **at_axis)
        if log:
            axis.set_xscale("log")
        axis.margins(x=0.15)
        axis.set_title(panel_title, fontsize=9)
        axis.set_xlabel(xlabel, fontsize=8)
        axis.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=3, frameon=False)
        axis.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(positions, list(groups))
    axes[0].invert_yaxis()  # the first group on top, as in the tables
    figure.suptitle(title, fontsize=10)
    return _save(figure, path, dpi=110)


def curves(path, x, panels, xlabel="epoch", figsize=(10, 4)):
    """Writes side-by-side line charts as a PNG, atomically; returns its path.

    Args:
        path: the `.png` to write.
        x: the x values (epochs, say), shared by every curve.
        panels: `{panel title: {legend label: [one value per x]}}`, drawn left to right; a
            label that starts with `val_` is dashed, so that validation stands apart from training.
        xlabel: the x-axis label of every panel.
    """
    figure = _new_figure(figsize)
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    for axis, (title, lines) in zip(axes, panels.items(), strict=True):
        for label, values in lines.items():
            axis.plot(x, values, "--" if label.startswith("val_") else "-", label=label)
        axis.set_xlabel(xlabel)
        axis.set_title(title)
        axis.grid(alpha=0.3)
        axis.legend()
    return _save(figure, path, dpi=100)


def confusion_matrix(path, confusion, classes, title):
    """Writes a confusion matrix as a PNG, atomically; returns its path.

    Cells are coloured by the fraction of each true class (so that rare classes show as
    clearly as common ones) and hold the counts while the classes are few enough to read.

    Args:
        path: the `.png` to write.
        confusion: a square array of counts, rows the true classes, columns the predicted ones.
        classes: the class names, in label order.
        title: the chart's title.
    """
    confusion = np.asarray(confusion)
    n = len(classes)
    fractions = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    side = min(max(4.0, 0.45 * n + 2.0), 16.0)
    figure = _new_figure((side + 1.0, side))
    axes = figure.add_subplot()
    image = axes.imshow(fractions, cmap="Blues", vmin=0.0, vmax=1.0)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label="fraction of the true class")
    if n <= MAX_LABELLED_CLASSES:
        fontsize = 10 if n <= MAX_ANNOTATED_CLASSES else 7
        axes.set_xticks(range(n), classes, rotation=90, fontsize=fontsize)
        axes.set_yticks(range(n), classes, fontsize=fontsize)
    if n <= MAX_ANNOTATED_CLASSES:
        for (row, col), count in np.ndenumerate(confusion):
            color = "white" if fractions[row, col] > 0.5 else "black"
            axes.text(col, row, str(count), ha="center", va="center", color=color, fontsize=8)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    axes.set_title(title)
    return _save(figure, path, dpi=100)
