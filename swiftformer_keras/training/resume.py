"""The run folder's checkpoints, and where an interrupted run resumes.

Each epoch, `RunCheckpoint` writes `checkpoints/epoch-NNNN/` (student weights and optimizer
variables, under a temporary name, renamed complete), then the epoch's row of `metrics.csv`,
then `checkpoints/state.json` naming the checkpoint, replaced atomically; it also keeps
`best.weights.h5` (best validation top-1) and `curves.png`. An interruption at any moment leaves
the previous epoch resumable: `resume_point` finds it (from `state.json`, or the newest intact
checkpoint when that file is missing or broken) and `restore_or_start` loads it and drops the
rows of `metrics.csv` beyond it, so a resumed run never repeats a row.
"""

import csv
import dataclasses
import json
import os
import re
import shutil

import keras
import numpy as np

from swiftformer_keras.utils import charts
from swiftformer_keras.utils.files import (
    check_free_space,
    partial_folder,
    remove_stale_partials,
    write_csv_atomically,
    write_json_atomically,
)
from swiftformer_keras.weights.keras_files import hdf5_size_hint, model_attention, save_weights_atomically

CONFIG_FILE = "config.json"
STATE_FILE = "state.json"
CHECKPOINTS = "checkpoints"
METRICS_FILE = "metrics.csv"
CURVES_FILE = "curves.png"
BEST_WEIGHTS_FILE = "best.weights.h5"
CHECKPOINT_FILES = ("model.weights.h5", "optimizer.npz")
CHECKPOINT_NAME = re.compile(r"^epoch-(\d{4,})$")
# The settings a resumed run must share with the run it continues.
FIXED_ON_RESUME = ("variant", "image_size", "batch_size", "teacher", "data", "epochs", "learning_rate")


def _checkpoint_name(epoch):
    return f"epoch-{epoch:04d}"


def _checkpoint_epochs(checkpoints):
    """The epochs of the intact `epoch-NNNN` folders (both files present) in `checkpoints`."""
    try:
        names = os.listdir(checkpoints)
    except OSError:
        return []
    return sorted(
        int(match.group(1))
        for match in map(CHECKPOINT_NAME.match, names)
        if match and all(os.path.isfile(os.path.join(checkpoints, match.group(0), f)) for f in CHECKPOINT_FILES)
    )


def _state_problem(state, checkpoints):
    """Why a parsed `state.json` cannot be resumed from, or None."""
    if not (
        isinstance(state, dict)
        and type(state.get("epoch")) is int
        and isinstance(state.get("checkpoint"), str)
        and type(state.get("best_val_top1")) in (int, float)
    ):
        return "does not name a checkpoint with its epoch and best_val_top1"
    if state["checkpoint"] != _checkpoint_name(state["epoch"]) or state["epoch"] not in _checkpoint_epochs(checkpoints):
        return f"names {state['checkpoint']!r}, not an intact checkpoint folder"
    return None


def _row_top1(row):
    try:
        return float(row.get("val_top1", row.get("top1")))
    except (TypeError, ValueError):
        return -1.0


def resume_point(output):
    """Where a run resumes: `{"epoch", "checkpoint", "best_val_top1"}`, or None for a fresh run.

    `checkpoints/state.json` names the last complete checkpoint. When it is
    missing, unreadable or names no intact checkpoint (a kill, a hand edit),
    the newest intact `epoch-NNNN` folder is used instead, and the log says so.

    Raises:
        ValueError: `state.json` is broken and no intact checkpoint is left.
    """
    checkpoints = os.path.join(output, CHECKPOINTS)
    path = os.path.join(checkpoints, STATE_FILE)
    problem = "is missing"
    if os.path.exists(path):
        try:
            with open(path, encoding="utf-8") as file:
                state = json.load(file)
        except ValueError as error:  # bad JSON or bad UTF-8
            problem = f"is not valid JSON ({error})"
        else:
            problem = _state_problem(state, checkpoints)
            if problem is None:
                return {
                    "epoch": state["epoch"],
                    "checkpoint": state["checkpoint"],
                    "best_val_top1": float(state["best_val_top1"]),
                }
    epochs = _checkpoint_epochs(checkpoints)
    if not epochs:
        if problem == "is missing":
            return None
        raise ValueError(
            f"{path} {problem}, and no intact checkpoint (an epoch-NNNN folder with "
            f"{' and '.join(CHECKPOINT_FILES)}) is left to resume from: delete {checkpoints} to start "
            "the run over, or use a new --output folder."
        )
    name = _checkpoint_name(epochs[-1])
    print(f"{path} {problem}; resuming from the newest intact checkpoint, {name}.")
    best = max((_row_top1(row) for row in metric_rows(output, epochs[-1])), default=-1.0)
    return {"epoch": epochs[-1], "checkpoint": name, "best_val_top1": best}


def metric_rows(output, epochs):
    """The rows of `metrics.csv` for the first `epochs` epochs, one per epoch.

    Rows of later epochs belong to no checkpoint (a run killed while saving
    one) and are dropped; a repeated epoch keeps its last row.
    """
    path = os.path.join(output, METRICS_FILE)
    if not os.path.exists(path):
        return []
    with open(path, newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    by_epoch = {}
    for row in rows:
        epoch = row.get("epoch")
        if epoch is not None and epoch.isdigit() and int(epoch) < epochs:
            by_epoch[int(epoch)] = row
    return [by_epoch[epoch] for epoch in sorted(by_epoch)]


def _truncate_metrics(output, epochs):
    """Keeps only the rows of `metrics.csv` that the resumed checkpoint covers."""
    path = os.path.join(output, METRICS_FILE)
    if not os.path.exists(path):
        return
    rows = metric_rows(output, epochs)
    if rows:
        write_csv_atomically(path, rows)
    else:
        os.remove(path)


def _sweep(output):
    """Removes what killed runs left: temporaries of dead processes, and the
    `.partial-*` checkpoint folders that earlier versions made with mkdtemp
    (their names carry no process id, and no live run of `output` uses them)."""
    checkpoints = os.path.join(output, CHECKPOINTS)
    for folder in (output, checkpoints):
        remove_stale_partials(folder)
    if os.path.isdir(checkpoints):
        for name in os.listdir(checkpoints):
            if name.startswith(".partial-"):
                shutil.rmtree(os.path.join(checkpoints, name), ignore_errors=True)


def _check_same_run(config):
    """Refuses to resume the run in `config.output` with other `FIXED_ON_RESUME` settings."""
    path = os.path.join(config.output, CONFIG_FILE)
    try:
        with open(path, encoding="utf-8") as file:
            saved = json.load(file)
    except (OSError, ValueError) as error:
        raise ValueError(
            f"{path} cannot be read ({error}); it records the settings of the run to resume. Use a new --output folder."
        ) from error
    if not isinstance(saved, dict):
        raise ValueError(f"{path} holds no settings; use a new --output folder.")
    changed = {k: (saved.get(k), getattr(config, k)) for k in FIXED_ON_RESUME if saved.get(k) != getattr(config, k)}
    if changed:
        raise ValueError(
            f"{config.output!r} holds a run with other settings {changed}; resume it with the same "
            "settings, or use a new --output folder."
        )


def find_resume_point(config):
    """Where the run of `config` resumes (`resume_point`), or None for a fresh run, after removing
    what killed runs left in its folder.

    Raises:
        ValueError: the folder holds a run with other settings, or one that cannot be resumed.
    """
    if not os.path.isdir(config.output):
        return None
    _sweep(config.output)
    state = resume_point(config.output)
    if state is not None:
        _check_same_run(config)
    return state


def _restore(model, optimizer, checkpoint):
    """Loads a checkpoint folder into a freshly built model and optimizer."""
    # Built first: a compiled student's weight file carries the optimizer too.
    optimizer.build(model.trainable_variables)
    model.load_weights(os.path.join(checkpoint, CHECKPOINT_FILES[0]))
    with np.load(os.path.join(checkpoint, CHECKPOINT_FILES[1])) as saved:
        values = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    if len(values) != len(optimizer.variables):
        raise ValueError(
            f"{checkpoint!r} holds {len(values)} optimizer variables, the run has "
            f"{len(optimizer.variables)}: it belongs to a run with other settings."
        )
    for variable, value in zip(optimizer.variables, values, strict=True):
        variable.assign(value)


def restore_or_start(config, state, student, optimizer):
    """Loads the checkpoint `state` (`find_resume_point`) names into `student` and its built
    `optimizer`, or, for a fresh run (`state` None), records `config` in the run folder; then drops
    the rows of `metrics.csv` that no checkpoint covers. Returns `(initial epoch, best val top-1)`."""
    if state is None:
        write_json_atomically(os.path.join(config.output, CONFIG_FILE), dataclasses.asdict(config))
        initial_epoch, best = 0, -1.0
    else:
        _restore(student, optimizer, os.path.join(config.output, CHECKPOINTS, state["checkpoint"]))
        initial_epoch, best = state["epoch"], state["best_val_top1"]
        print(f"Resuming from {state['checkpoint']} (epoch {initial_epoch} of {config.epochs}).")
    _truncate_metrics(config.output, initial_epoch)
    return initial_epoch, best


def plot_curves(rows, path):
    """Draws loss and top-1 per epoch, training and validation, from the rows of `metrics.csv`."""
    panels = {
        metric: {
            key: [float(row[key]) for row in rows]
            for key in (metric, "val_" + metric)
            if all(key in row for row in rows)
        }
        for metric in ("loss", "top1")
    }
    charts.curves(path, [int(row["epoch"]) + 1 for row in rows], panels)


class RunCheckpoint(keras.callbacks.Callback):
    """Saves a resumable checkpoint, the metrics, the best weights and the curves each epoch.

    A checkpoint is a folder (student weights + optimizer variables) written
    under a temporary name and renamed complete; the epoch's `metrics.csv`
    row follows it, then the `state.json` that names it is replaced
    atomically. An interruption at any moment leaves the previous epoch
    resumable, and a row beyond it is dropped on resume.
    """

    def __init__(self, config, student, best_top1=-1.0, class_names=None):
        super().__init__()
        self.config, self.student, self.best_top1 = config, student, best_top1
        self.class_names = class_names
        self.folder = os.path.join(config.output, CHECKPOINTS)
        os.makedirs(self.folder, exist_ok=True)

    def _save_checkpoint(self, target):
        optimizer = self.model.optimizer
        # HDF5 crashes the process if it meets a full disk, so the room is
        # checked first: a compiled student's file holds the optimizer too,
        # and optimizer.npz holds it once more.
        variables = [*self.student.weights, *optimizer.variables, *optimizer.variables]
        check_free_space(target, hdf5_size_hint(variables))
        with partial_folder(target) as temp:
            self.student.save_weights(os.path.join(temp, CHECKPOINT_FILES[0]))
            values = [keras.ops.convert_to_numpy(v) for v in optimizer.variables]
            np.savez(os.path.join(temp, CHECKPOINT_FILES[1]), *values)
            shutil.rmtree(target, ignore_errors=True)
            os.replace(temp, target)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        name = _checkpoint_name(epoch + 1)
        self._save_checkpoint(os.path.join(self.folder, name))
        rows = metric_rows(self.config.output, epoch) + [{"epoch": epoch, **{key: logs[key] for key in sorted(logs)}}]
        write_csv_atomically(os.path.join(self.config.output, METRICS_FILE), rows)
        top1 = float(logs.get("val_top1", logs.get("top1", 0.0)))
        if top1 > self.best_top1:
            self.best_top1 = top1
            save_weights_atomically(
                self.student,
                os.path.join(self.config.output, BEST_WEIGHTS_FILE),
                attention=model_attention(self.student),
                crop_pct=self.config.crop_pct,
                class_names=self.class_names,
            )
        write_json_atomically(
            os.path.join(self.folder, STATE_FILE),
            {"epoch": epoch + 1, "checkpoint": name, "best_val_top1": self.best_top1},
        )
        for other in os.listdir(self.folder):
            if CHECKPOINT_NAME.match(other) and other != name:
                shutil.rmtree(os.path.join(self.folder, other), ignore_errors=True)
        plot_curves(rows, os.path.join(self.config.output, CURVES_FILE))
