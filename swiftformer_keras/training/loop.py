"""The training loop behind `python -m swiftformer_keras.train` (`train.train`), on any Keras backend.

`run(config)` takes a `train.TrainConfig` whose values and paths `train` has
checked; this module imports Keras, so `train` imports it only then.

The recipe follows DeiT/SwiftFormer: AdamW (no weight decay on norms, biases
and layer scales), linear warm-up then cosine decay, label smoothing,
stochastic depth, pad-crop or random-resized-crop with flips, optional
mixup/CutMix, optional EMA of the weights, optional knowledge distillation
into the distillation head, bfloat16 mixed precision on GPUs.

The output folder gets `metrics.csv`, `curves.png`, `best.weights.h5` (best
validation top-1), `model.weights.h5` and `model.keras` (final, logits
output), and `checkpoints/` with `state.json`, from which an interrupted run
resumes at the epoch after the last completed one. An epoch's row of
`metrics.csv` is written only once its checkpoint is in place, so a resumed
run never repeats a row.
"""

import contextlib
import csv
import dataclasses
import json
import os
import re
import shutil
import sys

import keras
import numpy as np

from swiftformer_keras.weights import sources as weights_lib
from swiftformer_keras.models.architecture import variant_config
from swiftformer_keras.training.dataset import ImageFolderDataset
from swiftformer_keras.utils.files import (
    check_free_space,
    check_output_folder,
    partial_folder,
    remove_stale_partials,
    write_atomically,
    write_csv_atomically,
    write_json_atomically,
)
from swiftformer_keras.training.image_folder import TRAIN_SPLIT, eval_split_name, load_image_folder
from swiftformer_keras.utils.images import record_model_facts
from swiftformer_keras.models.builders import build_swiftformer

STATE_FILE = "state.json"
CHECKPOINTS = "checkpoints"
METRICS_FILE = "metrics.csv"
CHECKPOINT_FILES = ("model.weights.h5", "optimizer.npz")
CHECKPOINT_NAME = re.compile(r"^epoch-(\d{4,})$")
# Norms, biases and layer scales are not decayed (DeiT, timm).
NO_WEIGHT_DECAY = ["gamma", "beta", "bias"]


def _accelerator():
    """The accelerator the active backend will use, or None for the CPU."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.devices()[0].platform if jax.devices()[0].platform != "cpu" else None
    if backend == "torch":
        import torch

        return "gpu" if torch.cuda.is_available() else None
    if backend == "tensorflow":
        import tensorflow as tf

        return "gpu" if tf.config.list_physical_devices("GPU") else None
    return None


def _dtype_policy(precision):
    if precision == "auto":
        return "mixed_bfloat16" if _accelerator() else "float32"
    return {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}[precision]


def _distribution_scope(config):
    """Sets up data parallelism; returns a context manager for model building.

    JAX: `keras.distribution.DataParallel` over all devices; on several hosts
    the `KERAS_DISTRIBUTION_JOB_ADDRESSES`, `_NUM_PROCESSES` and `_PROCESS_ID`
    variables make every host join one cluster. TensorFlow:
    `tf.distribute.MirroredStrategy`, or `MultiWorkerMirroredStrategy` when
    `TF_CONFIG` describes several workers. PyTorch has no Keras data
    parallelism yet.
    """
    if not config.data_parallel:
        return contextlib.nullcontext(), 1
    backend = keras.backend.backend()
    if backend == "jax":
        if int(os.environ.get("KERAS_DISTRIBUTION_NUM_PROCESSES", "1")) > 1:
            keras.distribution.initialize()
        devices = keras.distribution.list_devices()
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
        count = len(devices)
        scope = contextlib.nullcontext()
    elif backend == "tensorflow":
        import tensorflow as tf

        multi_worker = "TF_CONFIG" in os.environ
        strategy = (
            tf.distribute.MultiWorkerMirroredStrategy() if multi_worker else tf.distribute.MirroredStrategy()
        )
        count, scope = strategy.num_replicas_in_sync, strategy.scope()
    else:
        raise ValueError("Data-parallel training needs the JAX or TensorFlow backend.")
    if config.batch_size % count:
        raise ValueError(f"batch_size {config.batch_size} must be a multiple of the {count} devices.")
    return scope, count


def _subset(folder, limit, seed):
    """A random subset (fixed by `seed`) of an ImageFolder, for quick runs."""
    if not limit or limit >= len(folder):
        return folder
    keep = np.sort(np.random.default_rng(seed).permutation(len(folder))[:limit])
    return dataclasses.replace(
        folder, files=[folder.files[i] for i in keep], labels=folder.labels[keep]
    )


def build_student(config, classes):
    """The model being trained: fresh, or with pretrained backbone weights and a new head."""
    source = None
    if config.weights:
        source = weights_lib.resolve_weights(
            config.weights, variant_config(config.variant), False, classes, config.attention
        )
    model = build_swiftformer(
        config.variant,
        classes=classes,
        input_shape=(config.image_size, config.image_size, 3),
        classifier_activation=None,
        attention=source.attention if source else (config.attention or "l2"),
        drop_path_rate=config.drop_path_rate,
        dropout_rate=config.dropout_rate,
        distillation_outputs=config.teacher is not None,
    )
    if source is not None:
        weights_lib.assign_state(model, source.state, source.description, keep_fresh=("classifier/",))
    return model


class DistillationLoss(keras.losses.Loss):
    """DeiT-style loss on `concat([head, dist_head, teacher])` logits.

    `(1 - alpha) * CE(head, labels) + alpha * KD(dist_head, teacher)`, where
    KD is the temperature-scaled KL divergence ("soft") or the cross-entropy
    with the teacher's top class ("hard").
    """

    def __init__(self, classes, alpha=0.5, temperature=1.0, kind="soft", label_smoothing=0.1, **kwargs):
        super().__init__(**kwargs)
        self.classes, self.alpha, self.temperature = classes, alpha, temperature
        self.kind, self.label_smoothing = kind, label_smoothing

    def call(self, y_true, y_pred):
        ops, c = keras.ops, self.classes
        head, dist, teacher = y_pred[:, :c], y_pred[:, c : 2 * c], ops.stop_gradient(y_pred[:, 2 * c :])
        base = keras.losses.categorical_crossentropy(
            y_true, head, from_logits=True, label_smoothing=self.label_smoothing
        )
        if self.kind == "hard":
            target = ops.one_hot(ops.argmax(teacher, axis=-1), c)
            kd = keras.losses.categorical_crossentropy(target, dist, from_logits=True)
        else:
            t = self.temperature
            kd = keras.losses.kl_divergence(ops.softmax(teacher / t), ops.softmax(dist / t)) * t * t
        return (1 - self.alpha) * base + self.alpha * kd


def _averaged_head_metrics(classes):
    """top-1 / top-5 of `(head + dist_head) / 2` from the concatenated logits."""

    def average(y_pred):
        return (y_pred[:, :classes] + y_pred[:, classes : 2 * classes]) / 2

    def top1(y_true, y_pred):
        return keras.metrics.categorical_accuracy(y_true, average(y_pred))

    def top5(y_true, y_pred):
        return keras.metrics.top_k_categorical_accuracy(y_true, average(y_pred), k=min(5, classes))

    return [top1, top5]


def build_training_model(config, student, classes):
    """Wraps the student with a frozen teacher when distilling."""
    if config.teacher is None:
        loss = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=config.label_smoothing)
        metrics = [
            keras.metrics.CategoricalAccuracy(name="top1"),
            keras.metrics.TopKCategoricalAccuracy(k=min(5, classes), name="top5"),
        ]
        return student, loss, metrics
    teacher = weights_lib.load_keras_model_file(config.teacher)
    teacher.trainable = False
    if teacher.output_shape[-1] != classes:
        raise ValueError(
            f"The teacher {config.teacher!r} predicts {teacher.output_shape[-1]} classes, the data has {classes}."
        )
    # Under its own name: a teacher built from the same config as the student has the student's name,
    # and a Keras model refuses two operations of one name.
    teacher = keras.Model(teacher.input, teacher.output, name="teacher")
    head, dist = student(student.input)
    logits = keras.layers.Concatenate(name="distillation_logits")([head, dist, teacher(student.input, training=False)])
    model = keras.Model(student.input, logits, name="distillation")
    loss = DistillationLoss(
        classes,
        config.distillation_alpha,
        config.distillation_temperature,
        config.distillation,
        config.label_smoothing,
    )
    return model, loss, _averaged_head_metrics(classes)


def _optimizer(config, steps_per_epoch):
    total = config.epochs * steps_per_epoch
    warmup = config.warmup_epochs * steps_per_epoch
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=config.learning_rate if warmup == 0 else config.min_learning_rate,
        decay_steps=max(total - warmup, 1),
        alpha=config.min_learning_rate / config.learning_rate,
        warmup_target=config.learning_rate if warmup else None,
        warmup_steps=warmup,
    )
    optimizer = keras.optimizers.AdamW(
        learning_rate=schedule,
        weight_decay=config.weight_decay,
        use_ema=config.ema_decay > 0,
        ema_momentum=config.ema_decay or 0.99,
    )
    optimizer.exclude_from_weight_decay(var_names=NO_WEIGHT_DECAY)
    return optimizer


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
    if state["checkpoint"] != f"epoch-{state['epoch']:04d}" or state["epoch"] not in _checkpoint_epochs(checkpoints):
        return f"names {state['checkpoint']!r}, not an intact checkpoint folder"
    return None


def _row_top1(row):
    try:
        return float(row.get("val_top1", row.get("top1")))
    except (TypeError, ValueError):
        return -1.0


def _resume_point(output):
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
                return {"epoch": state["epoch"], "checkpoint": state["checkpoint"],
                        "best_val_top1": float(state["best_val_top1"])}
    epochs = _checkpoint_epochs(checkpoints)
    if not epochs:
        if problem == "is missing":
            return None
        raise ValueError(
            f"{path} {problem}, and no intact checkpoint (an epoch-NNNN folder with "
            f"{' and '.join(CHECKPOINT_FILES)}) is left to resume from: delete {checkpoints} to start "
            "the run over, or use a new --output folder."
        )
    name = f"epoch-{epochs[-1]:04d}"
    print(f"{path} {problem}; resuming from the newest intact checkpoint, {name}.")
    best = max((_row_top1(row) for row in _metric_rows(output, epochs[-1])), default=-1.0)
    return {"epoch": epochs[-1], "checkpoint": name, "best_val_top1": best}


def _metric_rows(output, epochs):
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
    rows = _metric_rows(output, epochs)
    if rows:
        write_csv_atomically(path, rows)
    else:
        os.remove(path)


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
        check_free_space(target, weights_lib.hdf5_size_hint(variables))
        with partial_folder(target) as temp:
            self.student.save_weights(os.path.join(temp, CHECKPOINT_FILES[0]))
            values = [keras.ops.convert_to_numpy(v) for v in optimizer.variables]
            np.savez(os.path.join(temp, CHECKPOINT_FILES[1]), *values)
            shutil.rmtree(target, ignore_errors=True)
            os.replace(temp, target)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        name = f"epoch-{epoch + 1:04d}"
        self._save_checkpoint(os.path.join(self.folder, name))
        metrics = os.path.join(self.config.output, METRICS_FILE)
        row = {"epoch": epoch, **{key: logs[key] for key in sorted(logs)}}
        write_csv_atomically(metrics, _metric_rows(self.config.output, epoch) + [row])
        top1 = float(logs.get("val_top1", logs.get("top1", 0.0)))
        if top1 > self.best_top1:
            self.best_top1 = top1
            weights_lib.save_weights_atomically(
                self.student, os.path.join(self.config.output, "best.weights.h5"),
                attention=weights_lib.model_attention(self.student), crop_pct=self.config.crop_pct,
                class_names=self.class_names,
            )
        write_json_atomically(
            os.path.join(self.folder, STATE_FILE),
            {"epoch": epoch + 1, "checkpoint": name, "best_val_top1": self.best_top1},
        )
        for other in os.listdir(self.folder):
            if CHECKPOINT_NAME.match(other) and other != name:
                shutil.rmtree(os.path.join(self.folder, other), ignore_errors=True)
        plot_curves(metrics, os.path.join(self.config.output, "curves.png"))


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


def _restore(model, optimizer, checkpoint):
    """Loads a checkpoint folder into a freshly built model and optimizer."""
    # Built first: a compiled student's weight file carries the optimizer too.
    optimizer.build(model.trainable_variables)
    model.load_weights(os.path.join(checkpoint, "model.weights.h5"))
    with np.load(os.path.join(checkpoint, "optimizer.npz")) as saved:
        values = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    if len(values) != len(optimizer.variables):
        raise ValueError(
            f"{checkpoint!r} holds {len(values)} optimizer variables, the run has "
            f"{len(optimizer.variables)}: it belongs to a run with other settings."
        )
    for variable, value in zip(optimizer.variables, values):
        variable.assign(value)


def plot_curves(csv_path, png_path):
    """Plots loss and top-1 (train and validation) per epoch from metrics.csv."""
    # The object-oriented API with the Agg canvas: no pyplot, no global backend switch.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not os.path.exists(csv_path):
        return
    with open(csv_path) as file:
        rows = list(csv.DictReader(file))
    if not rows:
        return
    epochs = [int(r["epoch"]) + 1 for r in rows]
    figure = Figure(figsize=(10, 4))
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, 2)
    for axis, metric in zip(axes, ("loss", "top1")):
        for prefix, style in (("", "-"), ("val_", "--")):
            if prefix + metric in rows[0]:
                axis.plot(epochs, [float(r[prefix + metric]) for r in rows], style, label=prefix + metric)
        axis.set_xlabel("epoch")
        axis.set_title(metric)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    write_atomically(png_path, lambda temp: figure.savefig(temp, format="png", dpi=100))


def run(config, callbacks=()):
    """Runs (or resumes) the training run of `config`, a `train.TrainConfig`
    checked by `train.train`; returns a dict of final metrics.

    `callbacks` are extra Keras callbacks, run after the checkpointing one.
    """
    previous_policy = keras.config.dtype_policy()
    keras.mixed_precision.set_dtype_policy(_dtype_policy(config.precision))
    try:
        return _train(config, callbacks)
    finally:
        keras.mixed_precision.set_dtype_policy(previous_policy)


def _train(config, callbacks):
    keras.utils.set_random_seed(config.seed)
    # What can refuse the settings comes before the data is read and the model built: a resume
    # with other settings, and data parallelism that the backend or the batch size cannot do.
    state = None
    if os.path.isdir(config.output):
        _sweep(config.output)
        state = _resume_point(config.output)
        if state is not None:
            _check_same_run(config)
    scope, devices = _distribution_scope(config)

    train_folder = load_image_folder(config.data, TRAIN_SPLIT)
    eval_split = eval_split_name(config.data)
    eval_folder = load_image_folder(config.data, eval_split, classes=train_folder.classes)
    train_folder = _subset(train_folder, config.max_train_images, config.seed)
    eval_folder = _subset(eval_folder, config.max_eval_images, config.seed)
    classes = len(train_folder.classes)
    loader = {"workers": config.workers, "use_multiprocessing": False}
    train_data = ImageFolderDataset(
        train_folder, config.image_size, config.batch_size, training=True, augment=config.augment,
        mixup_alpha=config.mixup_alpha, cutmix_alpha=config.cutmix_alpha, seed=config.seed, **loader,
    )
    eval_data = ImageFolderDataset(
        eval_folder, config.image_size, config.batch_size, crop_pct=config.crop_pct, **loader
    )
    steps = min(len(train_data), config.steps_per_epoch or len(train_data))
    print(
        f"{len(train_folder)} training images ({train_folder.skipped} unreadable skipped), "
        f"{len(eval_folder)} {eval_split} images ({eval_folder.skipped} skipped), {classes} classes; "
        f"{steps} steps per epoch, policy {keras.config.dtype_policy().name}, backend {keras.backend.backend()}."
    )

    with scope:
        student = build_student(config, classes)
        model, loss, metrics = build_training_model(config, student, classes)
        optimizer = _optimizer(config, steps)
        model.compile(optimizer=optimizer, loss=loss, metrics=metrics)

    # Made only now, so that a run refused above leaves no folder behind.
    check_output_folder("--output", config.output)
    initial_epoch, best = 0, -1.0
    if state is not None:
        _restore(student, optimizer, os.path.join(config.output, CHECKPOINTS, state["checkpoint"]))
        initial_epoch, best = state["epoch"], state["best_val_top1"]
        print(f"Resuming from {state['checkpoint']} (epoch {initial_epoch} of {config.epochs}).")
    else:
        write_json_atomically(os.path.join(config.output, "config.json"), dataclasses.asdict(config))
    _truncate_metrics(config.output, initial_epoch)
    train_data.epoch = initial_epoch

    if initial_epoch < config.epochs:
        model.fit(
            train_data,
            validation_data=eval_data,
            epochs=config.epochs,
            initial_epoch=initial_epoch,
            steps_per_epoch=steps,
            callbacks=[
                RunCheckpoint(config, student, best, class_names=train_folder.classes),
                *callbacks,
            ],
            verbose=1 if sys.stdout.isatty() else 2,
        )
    return _finish(config, student, eval_folder, devices)


def _check_same_run(config):
    path = os.path.join(config.output, "config.json")
    try:
        with open(path, encoding="utf-8") as file:
            saved = json.load(file)
    except (OSError, ValueError) as error:
        raise ValueError(
            f"{path} cannot be read ({error}); it records the settings of the run to resume. "
            "Use a new --output folder."
        ) from error
    if not isinstance(saved, dict):
        raise ValueError(f"{path} holds no settings; use a new --output folder.")
    fixed = ("variant", "image_size", "batch_size", "teacher", "data", "epochs", "learning_rate")
    changed = {k: (saved.get(k), getattr(config, k)) for k in fixed if saved.get(k) != getattr(config, k)}
    if changed:
        raise ValueError(
            f"{config.output!r} holds a run with other settings {changed}; resume it with the same "
            "settings, or use a new --output folder."
        )


def _finish(config, student, eval_folder, devices):
    """Saves the final inference model (averaged heads, logits) and scores it."""
    inference = build_swiftformer(
        config.variant,
        classes=len(eval_folder.classes),
        input_shape=(config.image_size, config.image_size, 3),
        classifier_activation=None,
        attention=weights_lib.model_attention(student),
    )
    inference.set_weights(student.get_weights())
    weights_path = os.path.join(config.output, "model.weights.h5")
    weights_lib.save_weights_atomically(
        inference, weights_path, attention=weights_lib.model_attention(inference), crop_pct=config.crop_pct,
        class_names=eval_folder.classes,
    )

    def save_keras(temp):
        inference.save(temp)
        # The tools evaluate with the crop the model was trained for; exports label their scores.
        record_model_facts(temp, crop_pct=config.crop_pct, class_names=eval_folder.classes)

    write_atomically(
        os.path.join(config.output, "model.keras"), save_keras, keep_name=True,
        size_hint=weights_lib.hdf5_size_hint(inference.weights),
    )
    eval_data = ImageFolderDataset(
        eval_folder, config.image_size, config.batch_size, crop_pct=config.crop_pct
    )
    inference.compile(
        loss=keras.losses.CategoricalCrossentropy(from_logits=True),
        metrics=[
            keras.metrics.CategoricalAccuracy(name="top1"),
            keras.metrics.TopKCategoricalAccuracy(k=min(5, len(eval_folder.classes)), name="top5"),
        ]
    )
    scores = inference.evaluate(eval_data, return_dict=True, verbose=0)
    result = {
        "val_top1": float(scores["top1"]),
        "val_top5": float(scores["top5"]),
        "eval_images": len(eval_folder),
        "devices": devices,
        "model": os.path.join(config.output, "model.keras"),
    }
    write_json_atomically(os.path.join(config.output, "result.json"), result)
    print(f"Final {eval_folder.split} top-1 {result['val_top1']:.2%}, top-5 {result['val_top5']:.2%}.")
    return result
