"""Realistic random weights, for tests and benchmarks when no trained weights are at hand.

Default initialisation (layer scale 1e-5, std 0.02 heads) gives logits around
0.03: tolerances such as "max abs diff <= 1e-4" then say nothing. These
weights exercise every branch and give logits with a trained model's spread.
"""

import numpy as np


def randomize_weights(model, seed=0, logit_std=5.0):
    """Re-draws every variable so that each branch matters, then scales the heads
    to the logit spread of a trained model.

    Default initialisation (layer scale 1e-5, std 0.02 heads) gives logits
    around 0.03: a 1e-4 bound would then say nothing about the attention.
    """
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        shape, path = tuple(variable.shape), variable.path
        name = path.rsplit("/", 1)[-1]
        if name == "moving_mean":
            value = rng.normal(0.0, 0.2, shape)
        elif name == "moving_variance":
            value = rng.uniform(0.5, 1.5, shape)
        elif name == "gamma":  # BatchNorm scales and layer scales alike
            value = rng.uniform(0.5, 1.0, shape)
        elif name in ("beta", "bias"):
            value = rng.normal(0.0, 0.1, shape)
        elif name == "kernel":
            fan_in = np.prod(shape[:2] if "dwconv" in path else shape[:-1])
            value = rng.normal(0.0, 1.0, shape) / np.sqrt(fan_in)
        elif name == "w_g":
            value = rng.normal(0.0, 1.0, shape)
        else:
            raise ValueError(f"randomize_weights does not know variable {path!r}.")
        variable.assign(value.astype("float32"))
    size = [d or 64 for d in model.inputs[0].shape[1:3]]
    probe = rng.normal(size=(2, *size, 3)).astype("float32")
    scale = logit_std / float(np.std(model(probe, training=False)))
    for variable in model.weights:
        if variable.path.startswith("classifier/"):
            variable.assign(variable * scale)
    return model
