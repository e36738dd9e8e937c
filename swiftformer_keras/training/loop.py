"""The fit behind `python -m swiftformer_keras.train` (`train.train`), on any Keras backend.

`run(config)` takes a `training.config.TrainConfig` whose values and paths are checked;
this module imports Keras, so `train` imports it only then.

The recipe follows DeiT/SwiftFormer: AdamW (no weight decay on norms, biases
and layer scales), linear warm-up then cosine decay, label smoothing,
stochastic depth, pad-crop or random-resized-crop with flips, optional
mixup/CutMix, optional EMA of the weights, optional knowledge distillation
into the distillation head (`training.distillation`), bfloat16 mixed precision
on GPUs, optional data parallelism over the local devices (or a cluster).

The output folder gets `config.json`, `metrics.csv`, `curves.png`, `best.weights.h5`
(best validation top-1) and `checkpoints/` each epoch (`training.resume`, which
also says how an interrupted run resumes), then `model.weights.h5` and `model.keras`
(the final inference model, logits output) and `result.json`.
"""

import contextlib
import dataclasses
import os
import sys

import keras
import numpy as np

from swiftformer_keras.models.architecture import variant_config
from swiftformer_keras.models.builders import build_swiftformer
from swiftformer_keras.training import resume
from swiftformer_keras.training.dataset import ImageFolderDataset
from swiftformer_keras.training.distillation import accuracy_metrics, build_training_model
from swiftformer_keras.training.image_folder import TRAIN_SPLIT, eval_split_name, load_image_folder
from swiftformer_keras.utils.files import check_output_folder, write_atomically, write_json_atomically
from swiftformer_keras.utils.images import record_model_facts
from swiftformer_keras.weights import keras_files
from swiftformer_keras.weights.sources import load_weights

# Norms, biases and layer scales are not decayed (DeiT, timm).
NO_WEIGHT_DECAY = ["gamma", "beta", "bias"]


def _accelerator():
    """The accelerator the active backend will use, or None for the CPU."""
    # Each backend is imported only when it is Keras's active one: the others need not be installed.
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
        import tensorflow as tf  # the active backend, so installed and loaded already

        multi_worker = "TF_CONFIG" in os.environ
        strategy = tf.distribute.MultiWorkerMirroredStrategy() if multi_worker else tf.distribute.MirroredStrategy()
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
    return dataclasses.replace(folder, files=[folder.files[i] for i in keep], labels=folder.labels[keep])


def build_student(config, classes):
    """The model being trained: fresh, or with pretrained backbone weights and a new head."""
    loaded = None
    if config.weights:
        loaded = load_weights(config.weights, variant_config(config.variant), False, classes, config.attention)
    model = build_swiftformer(
        config.variant,
        classes=classes,
        input_shape=(config.image_size, config.image_size, 3),
        classifier_activation=None,
        attention=loaded.attention if loaded else (config.attention or "l2"),
        drop_path_rate=config.drop_path_rate,
        dropout_rate=config.dropout_rate,
        distillation_outputs=config.teacher is not None,
    )
    if loaded is not None:
        loaded.assign_to(model, keep_fresh=("classifier/",))
    return model


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


def run(config, callbacks=()):
    """Runs (or resumes) the training run of `config`, a `TrainConfig` whose paths
    `training.config.check_paths` has checked; returns a dict of final metrics.

    `callbacks` are extra Keras callbacks, run after the checkpointing one.
    """
    previous_policy = keras.config.dtype_policy()
    keras.mixed_precision.set_dtype_policy(_dtype_policy(config.precision))
    try:
        return _fit(config, callbacks)
    finally:
        keras.mixed_precision.set_dtype_policy(previous_policy)


def _datasets(config):
    """`(train folder, eval folder, train batches, eval batches)` of `config.data`, subsets included."""
    train_folder = load_image_folder(config.data, TRAIN_SPLIT)
    eval_folder = load_image_folder(config.data, eval_split_name(config.data), classes=train_folder.classes)
    train_folder = _subset(train_folder, config.max_train_images, config.seed)
    eval_folder = _subset(eval_folder, config.max_eval_images, config.seed)
    loader = {"workers": config.workers, "use_multiprocessing": False}
    train_data = ImageFolderDataset(
        train_folder,
        config.image_size,
        config.batch_size,
        training=True,
        augment=config.augment,
        mixup_alpha=config.mixup_alpha,
        cutmix_alpha=config.cutmix_alpha,
        seed=config.seed,
        **loader,
    )
    eval_data = ImageFolderDataset(
        eval_folder, config.image_size, config.batch_size, crop_pct=config.crop_pct, **loader
    )
    return train_folder, eval_folder, train_data, eval_data


def _fit(config, callbacks):
    keras.utils.set_random_seed(config.seed)
    # What can refuse the settings comes before the data is read and the model built: a resume
    # with other settings, and data parallelism that the backend or the batch size cannot do.
    state = resume.find_resume_point(config)
    scope, devices = _distribution_scope(config)

    train_folder, eval_folder, train_data, eval_data = _datasets(config)
    classes = len(train_folder.classes)
    steps = min(len(train_data), config.steps_per_epoch or len(train_data))
    print(
        f"{len(train_folder)} training images ({train_folder.skipped} unreadable skipped), "
        f"{len(eval_folder)} {eval_folder.split} images ({eval_folder.skipped} skipped), {classes} classes; "
        f"{steps} steps per epoch, policy {keras.config.dtype_policy().name}, backend {keras.backend.backend()}."
    )

    with scope:
        student = build_student(config, classes)
        model, loss, metrics = build_training_model(config, student, classes)
        optimizer = _optimizer(config, steps)
        model.compile(optimizer=optimizer, loss=loss, metrics=metrics)

    # Made only now, so that a run refused above leaves no folder behind.
    check_output_folder("--output", config.output)
    initial_epoch, best = resume.restore_or_start(config, state, student, optimizer)
    train_data.epoch = initial_epoch
    if initial_epoch < config.epochs:
        model.fit(
            train_data,
            validation_data=eval_data,
            epochs=config.epochs,
            initial_epoch=initial_epoch,
            steps_per_epoch=steps,
            callbacks=[resume.RunCheckpoint(config, student, best, class_names=train_folder.classes), *callbacks],
            verbose=1 if sys.stdout.isatty() else 2,
        )
    return _finish(config, student, eval_folder, devices)


def _finish(config, student, eval_folder, devices):
    """Saves the final inference model (averaged heads, logits) and scores it."""
    inference = build_swiftformer(
        config.variant,
        classes=len(eval_folder.classes),
        input_shape=(config.image_size, config.image_size, 3),
        classifier_activation=None,
        attention=keras_files.model_attention(student),
    )
    inference.set_weights(student.get_weights())
    keras_files.save_weights_atomically(
        inference,
        os.path.join(config.output, "model.weights.h5"),
        attention=keras_files.model_attention(inference),
        crop_pct=config.crop_pct,
        class_names=eval_folder.classes,
    )
    model_path = os.path.join(config.output, "model.keras")

    def save_keras(temp):
        inference.save(temp)
        # The tools evaluate with the crop the model was trained for; exports label their scores.
        record_model_facts(temp, crop_pct=config.crop_pct, class_names=eval_folder.classes)

    write_atomically(model_path, save_keras, keep_name=True, size_hint=keras_files.hdf5_size_hint(inference.weights))
    eval_data = ImageFolderDataset(eval_folder, config.image_size, config.batch_size, crop_pct=config.crop_pct)
    inference.compile(
        loss=keras.losses.CategoricalCrossentropy(from_logits=True),
        metrics=accuracy_metrics(len(eval_folder.classes)),
    )
    scores = inference.evaluate(eval_data, return_dict=True, verbose=0)
    result = {
        "val_top1": float(scores["top1"]),
        "val_top5": float(scores["top5"]),
        "eval_images": len(eval_folder),
        "devices": devices,
        "model": model_path,
    }
    write_json_atomically(os.path.join(config.output, "result.json"), result)
    print(f"Final {eval_folder.split} top-1 {result['val_top1']:.2%}, top-5 {result['val_top5']:.2%}.")
    return result
