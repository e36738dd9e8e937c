"""Shared fixtures: an independent PyTorch reference and checkpoint writers.

The reference is Hugging Face transformers' SwiftFormer (pip-installable, no
torchvision), built by `android_bench.torch_reference`: its attention is the
first-release "softmax" formulation, or for "l2" the current official code's
(Amshaker/SwiftFormer `EfficientAdditiveAttnetion.forward`). Its weights are
redrawn by `torch_reference.randomize`, so that every branch matters.
"""

import argparse
import os
import re
import shutil
import subprocess
import tarfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest

from android_bench import torch_reference

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
SHARED_DATA = os.path.join(ROOT, "..", "shared", "data")
IMAGENET_SAMPLES = os.path.join(SHARED_DATA, "imagenet-samples")
# A SwiftFormer with every kind of layer XS has in 5 blocks (XS: 16), 9 GELUs: it builds, traces and
# converts in a fraction of XS's time, for tests whose subject does not depend on the model's size.
TINY = {"depths": [1, 1, 2, 1], "widths": [16, 24, 32, 48]}
# The flags of most conversions the tests run: the XS variant with seeded random weights (no download), small.
XS_RANDOM = ["--model", "XS", "--weights", "random"]
XS_64 = [*XS_RANDOM, "--input-size", "64", "64"]

VARIANT_SPECS = {
    "XS": ([3, 3, 6, 4], [48, 56, 112, 220]),
    "S": ([3, 3, 9, 6], [48, 64, 168, 224]),
    "L1": ([4, 3, 10, 5], [48, 96, 192, 384]),
    "L3": ([4, 4, 12, 6], [64, 128, 320, 512]),
}


def tiny_model(attention="l2", input_shape=(64, 64, 3), classes=10, seed=0):
    """`TINY` with realistic random weights (`models.random_init`), logits out."""
    from swiftformer_keras import SwiftFormer
    from swiftformer_keras.models.random_init import randomize_weights

    model = SwiftFormer(TINY, classes=classes, classifier_activation=None, input_shape=input_shape, attention=attention)
    return randomize_weights(model, seed=seed)


@pytest.fixture
def no_conversion(monkeypatch):
    """Fails the test if the (slow) model loading of a conversion starts: a refusal must come first."""
    from swiftformer_keras.lite import pipeline

    def started(*args, **kwargs):
        raise AssertionError("the conversion started before the arguments were checked")

    monkeypatch.setattr(pipeline, "load_keras_model", started)


def make_reference(variant, attention, seed=0, classes=1000):
    """A randomised transformers SwiftFormer in eval mode, with `attention`
    ("softmax" as shipped by transformers, or "l2" as the official code)."""
    depths, widths = VARIANT_SPECS[variant]
    return torch_reference.random_reference(depths, widths, classes, attention, seed)


def reference_logits(model, images_nhwc):
    import torch

    with torch.no_grad():
        pixels = torch.from_numpy(np.ascontiguousarray(images_nhwc.transpose(0, 3, 1, 2)))
        return model(pixels).logits.numpy()


def hf_to_official_key(key):
    key = key.removeprefix("swiftformer.")
    key = key.replace("patch_embed.patch_embedding.", "patch_embed.")
    key = re.sub(r"^encoder\.network\.(\d+)\.blocks\.(\d+)\.", r"network.\1.\2.", key)
    key = key.replace("encoder.network.", "network.")
    key = key.replace("depth_wise_conv", "dwconv").replace("point_wise_conv", "pwconv")
    return key.replace("attn.proj.", "attn.Proj.")


def hf_to_timm_key(key):
    key = hf_to_official_key(key).replace("attn.Proj.", "attn.proj.")
    key = key.replace("patch_embed.", "stem.").replace("dist_head.", "head_dist.")
    key = re.sub(r"\.(layer_scale(_[12])?)$", r".\1.gamma", key)
    match = re.match(r"^network\.(\d+)\.(.*)$", key)
    if match:
        index, rest = int(match.group(1)), match.group(2)
        key = f"stages.{index // 2}.blocks.{rest}" if index % 2 == 0 else f"stages.{(index + 1) // 2}.downsample.{rest}"
    return key


def write_checkpoint(model, layout, folder, name="ckpt"):
    """Saves `model`'s weights as a real file in `layout`: official (.pth,
    wrapped with training metadata like the official script), hf
    (.safetensors) or timm (.bin)."""
    import torch
    from safetensors.torch import save_file

    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    if layout == "hf":
        path = os.path.join(folder, f"{name}.safetensors")
        save_file(state, path)
    elif layout == "official":
        path = os.path.join(folder, f"{name}.pth")
        official = {hf_to_official_key(k): v for k, v in state.items()}
        torch.save({"model": official, "epoch": 299, "args": argparse.Namespace(model="x")}, path)
    elif layout == "timm":
        path = os.path.join(folder, f"{name}.bin")
        torch.save({hf_to_timm_key(k): v for k, v in state.items()}, path)
    else:
        raise ValueError(layout)
    return path


# timm and torchvision (`make .timm/.installed`), kept off .venv's path: beside the CPU build of torch,
# PyPI's torchvision does not import, and transformers, which imports it when present, would break.
TIMM_PACKAGES = os.path.join(ROOT, ".timm")


def timm_hub_file(variant, folder, images_nhwc, seed=0):
    """timm's own `swiftformer_<variant>` holding the weights of `make_reference(variant, "l2", seed)`,
    as timm's `checkpoint_filter_fn` maps the official layout, saved as timm's hub file: an
    implementation and a key map independent of ours (`tests/timm_reference/write_hub_file.py`).

    Returns `(path of model.safetensors, timm's logits on images_nhwc)`.
    """
    import sys

    folder = os.fspath(folder)
    official = write_checkpoint(make_reference(variant, "l2", seed), "official", folder, f"official_{variant}")
    inputs, logits = os.path.join(folder, "inputs.npy"), os.path.join(folder, "timm_logits.npy")
    np.save(inputs, images_nhwc)
    output = os.path.join(folder, "model.safetensors")
    script = os.path.join(ROOT, "tests", "timm_reference", "write_hub_file.py")
    env = dict(os.environ, PYTHONPATH=TIMM_PACKAGES)
    done = subprocess.run(
        [sys.executable, script, variant, official, output, inputs, logits], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, f"timm could not write the file (run `make .timm/.installed`): {done.stderr[-3000:]}"
    return output, np.load(logits)


@pytest.fixture
def cached_xs_weights(tmp_path, monkeypatch):
    """Both published generations of XS in a fresh cache, as their converted files (made from the
    transformers reference: "l2" in the official layout, "softmax" in the hub's), and a hub at a port
    nobody answers at, so a tool that tried to download would fail. Returns `{source name: reference}`."""
    import socket

    from swiftformer_keras.weights import hub, published, sources

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        monkeypatch.setenv(hub.BASE_URL_ENV, f"http://127.0.0.1:{probe.getsockname()[1]}")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    os.makedirs(hub.cache_dir())
    references = {}
    for name, attention, layout in (("imagenet_timm", "l2", "official"), ("imagenet_mbzuai", "softmax", "hf")):
        source = published.WEIGHT_SOURCES[name]
        references[name] = make_reference("XS", attention)
        checkpoint = write_checkpoint(references[name], layout, str(tmp_path), name)
        sources.convert_to_keras_weights(
            checkpoint, hub.cached_conversion_path(source, "XS"), config="XS", crop_pct=source.crop_pct
        )
    return references


@pytest.fixture(scope="session")
def images():
    """Deterministic inputs scaled like preprocessed images: 224x224 and non-square."""
    rng = np.random.RandomState(0)
    return {
        "square": rng.randn(2, 224, 224, 3).astype("float32"),
        "non_square": rng.randn(1, 160, 256, 3).astype("float32"),
    }


CIFAR_TARBALL = os.path.join(SHARED_DATA, "cifar10-jpeg.tar.gz")
CIFAR_CLASSES = ("airplane", "automobile", "frog", "ship")


def make_image_folder(root, per_split, classes=CIFAR_CLASSES):
    """A small image folder: real CIFAR-10 JPEGs from ../shared/data when
    present, otherwise generated 32x32 images whose colour and texture
    depend on the class (so that a model can still learn them).

    `per_split` maps a split name (train, test) to images per class.
    Returns `(root, "cifar10" or "generated")`.
    """

    from PIL import Image

    if os.path.exists(CIFAR_TARBALL):
        wanted = {(s, c): n for s, n in per_split.items() for c in classes}
        taken = dict.fromkeys(wanted, 0)
        with tarfile.open(CIFAR_TARBALL) as archive:
            for member in archive:
                parts = member.name.split("/")[-3:]
                if not member.isfile() or len(parts) < 3 or tuple(parts[:2]) not in wanted:
                    continue
                key = tuple(parts[:2])
                if taken[key] >= wanted[key]:
                    continue
                folder = os.path.join(root, *key)
                os.makedirs(folder, exist_ok=True)
                with open(os.path.join(folder, parts[2]), "wb") as out:
                    out.write(archive.extractfile(member).read())
                taken[key] += 1
                if taken == wanted:
                    break
        return root, "cifar10"
    rng = np.random.RandomState(0)
    for split, count in per_split.items():
        for label, name in enumerate(classes):
            folder = os.path.join(root, split, name)
            os.makedirs(folder, exist_ok=True)
            for index in range(count):
                base = np.zeros((32, 32, 3)) + 60
                base[..., label % 3] += 120
                stripes = (np.arange(32) // (2 + label)) % 2 * 40
                image = base + stripes[None, :, None] + rng.randn(32, 32, 3) * 25
                Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(os.path.join(folder, f"{index:04d}.png"))
    return root, "generated"


@pytest.fixture(scope="session")
def small_cifar(tmp_path_factory):
    """4 classes x 120 training and 40 test images."""
    return make_image_folder(str(tmp_path_factory.mktemp("cifar")), {"train": 120, "test": 40})


@pytest.fixture(scope="session")
def trained_run(small_cifar, tmp_path_factory):
    """TINY at 64x64 trained for 4 epochs on `small_cifar` with the training CLI's function.

    Shared: test_train.py checks the run itself, test_conversion.py quantizes its
    model (int8 error can only be judged on trained weights). Returns
    `(output folder, train()'s result)`.
    """
    from swiftformer_keras import train as train_lib

    output = tmp_path_factory.mktemp("trained") / "run"
    result = train_lib.train(
        train_lib.TrainConfig(
            data=small_cifar[0],
            output=str(output),
            variant=TINY,
            image_size=64,
            epochs=4,
            batch_size=32,
            learning_rate=2e-3,
            warmup_epochs=0,
            workers=1,
        )
    )
    return output, result


def _mount_tmpfs(folder, options):
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True, text=True)
    # Root is needed (as on the developers' machines and CI); a failure here is a failure, not a skip.
    assert done.returncode == 0, f"could not mount a tmpfs at {folder}: {done.stderr.strip()}"


def _unmount(folder):
    subprocess.run(["umount", "-l", str(folder)], capture_output=True)


@pytest.fixture
def full_disk(tmp_path):
    """A folder on a real file system with no free space: every write there fails
    with ENOSPC, as on a full disk (a 256 kB tmpfs, filled up)."""
    folder = tmp_path / "full"
    folder.mkdir()
    _mount_tmpfs(folder, "size=256k")
    try:
        with open(folder / ".filler", "wb") as filler:
            while True:
                filler.write(b"\0" * 4096)
                filler.flush()
    except OSError:
        pass
    yield folder
    _unmount(folder)


@pytest.fixture
def read_only_dir(tmp_path):
    """An empty folder on a read-only file system (root ignores permission bits,
    so a chmod would not do): every write there fails with EROFS."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    _mount_tmpfs(folder, "size=64k,ro")
    yield folder
    _unmount(folder)


@pytest.fixture(scope="session")
def small_tflite(tmp_path_factory):
    """A tiny float .tflite file (conv, pooling, dense; 32x32x3 in, 4 out) for runtime tests."""
    import keras

    from swiftformer_keras.lite.converter import export_tflite

    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(16, 3, activation="relu")(inputs)
    outputs = keras.layers.Dense(4)(keras.layers.GlobalAveragePooling2D()(x))
    return export_tflite(keras.Model(inputs, outputs), tmp_path_factory.mktemp("tflite") / "small.tflite")


# .venv-tflite-runtime (`make .venv-tflite-runtime/.installed`, a dependency of `make test`): tflite-runtime
# 2.14 in a Python <= 3.11 beside .venv, made with $TFLITE_RUNTIME_PYTHON or else the first of these that runs.
TFLITE_RUNTIME_VENV = os.path.join(ROOT, ".venv-tflite-runtime")
RUNTIME_PYTHONS = ("python3.11", "python3.10", "python3.9")
# The Makefile prints the same line where it skips the environment.
NO_RUNTIME_PYTHON = (
    f"tflite-runtime 2.14 needs Python <= 3.11 and none of {' '.join(RUNTIME_PYTHONS)} runs here: "
    ".venv-tflite-runtime not created"
)


def python_for_tflite_runtime():
    """The first of `RUNTIME_PYTHONS` that runs and is a Python <= 3.11, as the Makefile looks, or None."""

    for name in RUNTIME_PYTHONS:
        path = shutil.which(name)
        # A pyenv shim is on PATH whether or not its version is installed: it must run.
        if (
            path
            and subprocess.run(
                [path, "-c", "import sys; sys.exit(sys.version_info >= (3, 12))"], capture_output=True
            ).returncode
            == 0
        ):
            return path
    return None


@pytest.fixture(scope="session")
def tflite_runtime_python():
    """The python of .venv-tflite-runtime. Skips (with the Makefile's words) where no Python <= 3.11
    exists to make it; fails, saying to run make, where one exists but the environment does not."""
    python = os.path.join(TFLITE_RUNTIME_VENV, "bin", "python")
    if os.path.isfile(os.path.join(TFLITE_RUNTIME_VENV, ".installed")) and os.access(python, os.X_OK):
        return python
    found = os.environ.get("TFLITE_RUNTIME_PYTHON") or python_for_tflite_runtime()  # the Makefile's choice
    if found is None:
        pytest.skip(NO_RUNTIME_PYTHON)
    pytest.fail(
        f"{TFLITE_RUNTIME_VENV} is missing or incomplete although {found} can make it: "
        "run `make .venv-tflite-runtime/.installed` (`make test` does)"
    )


MEDIAPIPE_VENV = os.path.join(ROOT, ".venv-mediapipe")


@pytest.fixture(scope="session")
def mediapipe_python():
    """The python of .venv-mediapipe (MediaPipe Tasks, made by `make test` like .venv-tflite-runtime)."""
    python = os.path.join(MEDIAPIPE_VENV, "bin", "python")
    if os.path.isfile(os.path.join(MEDIAPIPE_VENV, ".installed")) and os.access(python, os.X_OK):
        return python
    found = os.environ.get("TFLITE_RUNTIME_PYTHON") or python_for_tflite_runtime()
    if found is None:
        pytest.skip(NO_RUNTIME_PYTHON.replace(".venv-tflite-runtime", ".venv-mediapipe"))
    pytest.fail(
        f"{MEDIAPIPE_VENV} is missing or incomplete although {found} can make it: "
        "run `make .venv-mediapipe/.installed` (`make test` does)"
    )


@pytest.fixture(scope="session")
def cifar_tflite(trained_run, small_cifar, tmp_path_factory):
    """The shared trained model (`trained_run`) as the default fp32 and int8 files of to_tflite
    (probabilities, pixel input, metadata labelled with the class names its training recorded),
    with their reports: `{"keras": path, "fp32": (path, report), "int8": (path, report)}`. The
    int8 file, alone in its folder with its card and JSON report, is also measured against the
    Keras model on the 160 test images, with the quantization debugger (test_conversion.py)."""
    from swiftformer_keras.lite import pipeline as conversion

    data = small_cifar[0]
    keras_file = os.path.join(trained_run[0], "model.keras")
    fp32 = tmp_path_factory.mktemp("cifar-fp32") / "cifar_fp32.tflite"
    int8 = tmp_path_factory.mktemp("cifar-int8") / "int8.tflite"
    return {
        "keras": keras_file,
        "fp32": (fp32, conversion.convert_swiftformer(fp32, keras_model=keras_file, card=False)),
        "int8": (
            int8,
            conversion.convert_swiftformer(
                int8,
                mode="int8",
                keras_model=keras_file,
                calib_dir=os.path.join(data, "train"),
                num_calib=64,
                eval_dir=os.path.join(data, "test"),
                num_eval=160,
                debug=True,
            ),
        ),
    }


@pytest.fixture(scope="session")
def npu_files(cifar_tflite, small_cifar, tmp_path_factory):
    """The trained TINY int8 file (`cifar_tflite`) and its integer-only twin (uint8 input and output),
    each compiled for Qualcomm's SM8650 and SM8750 by `lite.npu.compile_for_npu`:
    `{"int8": (source, {target: compiled path}), "uint8": (...), "rows": {kind: rows}}`."""
    from swiftformer_keras.lite import npu
    from swiftformer_keras.lite import pipeline as conversion

    folder = tmp_path_factory.mktemp("npu")
    uint8 = folder / "cifar_uint8.tflite"
    conversion.convert_swiftformer(
        uint8,
        mode="int8",
        io="uint8",
        keras_model=cifar_tflite["keras"],
        calib_dir=os.path.join(small_cifar[0], "train"),
        num_calib=64,
        card=False,
    )
    targets = npu.parse_targets(["qualcomm:SM8650,SM8750"])
    found = {"rows": {}}
    for kind, source in (("int8", cifar_tflite["int8"][0]), ("uint8", uint8)):
        out = folder / kind
        out.mkdir()
        rows = npu.compile_for_npu(source, targets, out)
        found["rows"][kind] = rows
        found[kind] = (str(source), {row["target"]: str(out / row["file"]) for row in rows if row["compiled"]})
    return found
