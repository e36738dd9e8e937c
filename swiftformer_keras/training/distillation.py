"""The model a run fits, its loss and its metrics: the student alone, or the student beside a frozen
teacher whose logits its distillation head learns (DeiT, as SwiftFormer was trained).

The student built with `distillation_outputs=True` returns `(head, dist_head)`; the training model
concatenates them with the teacher's logits, `DistillationLoss` scores the concatenation, and the
metrics score what the inference model will output, `(head + dist_head) / 2`.
"""

import keras

from swiftformer_keras.weights.keras_files import load_keras_model_file


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


def accuracy_metrics(classes):
    """top-1 and top-5 (top-`classes` when there are fewer) of a model with one output."""
    return [
        keras.metrics.CategoricalAccuracy(name="top1"),
        keras.metrics.TopKCategoricalAccuracy(k=min(5, classes), name="top5"),
    ]


def build_training_model(config, student, classes):
    """`(model, loss, metrics)` to compile and fit: the student itself, or, when `config.teacher`
    names a `.keras` file, the student beside that frozen teacher."""
    if config.teacher is None:
        loss = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=config.label_smoothing)
        return student, loss, accuracy_metrics(classes)
    teacher = load_keras_model_file(config.teacher)
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
